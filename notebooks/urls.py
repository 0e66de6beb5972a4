from django.urls import path

from .views import authoring, gradebook, labs, manual_grading, submissions

urlpatterns = [
    path("labs/", labs.lab_list, name="lab-list"),
    path("runs/<int:run_id>/labs/new/", labs.lab_edit, name="lab-create"),
    path("runs/<int:run_id>/gradebook/", gradebook.gradebook, name="gradebook"),
    path("runs/<int:run_id>/gradebook.csv", gradebook.gradebook_csv, name="gradebook-csv"),
    path("labs/<int:pk>/", labs.lab_detail, name="lab-detail"),
    path("labs/<int:pk>/edit/", labs.lab_edit, name="lab-edit"),
    path("labs/<int:pk>/versions/", labs.lab_version_upload, name="lab-version-upload"),
    path(
        "labs/<int:pk>/versions/<int:number>/",
        authoring.version_detail,
        name="lab-version-detail",
    ),
    path(
        "labs/<int:pk>/versions/<int:number>/check/",
        authoring.version_check,
        name="lab-version-check",
    ),
    path(
        "labs/<int:pk>/versions/<int:number>/check/card/",
        authoring.version_check_card,
        name="lab-version-check-card",
    ),
    path("labs/library/", authoring.library, name="lab-library"),
    path("labs/<int:pk>/copy/", authoring.lab_copy, name="lab-copy"),
    path(
        "labs/<int:pk>/versions/<int:number>/preview/",
        labs.lab_version_preview,
        name="lab-version-preview",
    ),
    path(
        "labs/<int:pk>/versions/<int:number>/<str:kind>.ipynb",
        labs.lab_version_download,
        name="lab-version-download",
    ),
    path("labs/<int:pk>/release/", labs.lab_release, name="lab-release"),
    path("labs/<int:pk>/download/", labs.lab_download, name="lab-download"),
    path("labs/<int:pk>/submit/", labs.lab_submit, name="lab-submit"),
    path("labs/<int:pk>/regrade/", labs.lab_regrade, name="lab-regrade"),
    path(
        "labs/<int:pk>/regrades/<int:regrade_id>/",
        labs.lab_regrade_progress,
        name="lab-regrade-progress",
    ),
    path(
        "labs/<int:pk>/regrades/<int:regrade_id>/cancel/",
        labs.lab_regrade_cancel,
        name="lab-regrade-cancel",
    ),
    path("labs/<int:pk>/feedback/release/", labs.lab_feedback_release, name="lab-feedback-release"),
    path("labs/<int:pk>/grading/", manual_grading.lab_grading, name="lab-grading"),
    path("submissions/<int:pk>/", submissions.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/status/", submissions.submission_status, name="submission-status"),
    path(
        "submissions/<int:pk>/download/",
        submissions.submission_download,
        name="submission-download",
    ),
    path(
        "submissions/<int:pk>/regrade/", submissions.submission_regrade, name="submission-regrade"
    ),
]
