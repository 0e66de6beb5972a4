from django.urls import path

from . import views

urlpatterns = [
    path("labs/", views.lab_list, name="lab-list"),
    path("runs/<int:run_id>/labs/new/", views.lab_edit, name="lab-create"),
    path("runs/<int:run_id>/gradebook/", views.gradebook, name="gradebook"),
    path("runs/<int:run_id>/gradebook.csv", views.gradebook_csv, name="gradebook-csv"),
    path("labs/<int:pk>/", views.lab_detail, name="lab-detail"),
    path("labs/<int:pk>/edit/", views.lab_edit, name="lab-edit"),
    path("labs/<int:pk>/versions/", views.lab_version_upload, name="lab-version-upload"),
    path(
        "labs/<int:pk>/versions/<int:number>/preview/",
        views.lab_version_preview,
        name="lab-version-preview",
    ),
    path(
        "labs/<int:pk>/versions/<int:number>/<str:kind>.ipynb",
        views.lab_version_download,
        name="lab-version-download",
    ),
    path("labs/<int:pk>/release/", views.lab_release, name="lab-release"),
    path("labs/<int:pk>/download/", views.lab_download, name="lab-download"),
    path("labs/<int:pk>/submit/", views.lab_submit, name="lab-submit"),
    path("labs/<int:pk>/regrade/", views.lab_regrade, name="lab-regrade"),
    path(
        "labs/<int:pk>/feedback/release/", views.lab_feedback_release, name="lab-feedback-release"
    ),
    path("labs/<int:pk>/grading/", views.lab_grading, name="lab-grading"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/status/", views.submission_status, name="submission-status"),
    path("submissions/<int:pk>/download/", views.submission_download, name="submission-download"),
    path("submissions/<int:pk>/regrade/", views.submission_regrade, name="submission-regrade"),
]
