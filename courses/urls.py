from django.urls import path

from . import views

urlpatterns = [
    path("courses/", views.catalogue, name="course-catalogue"),
    path("courses/<str:code>/", views.course_detail, name="course-detail"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/enrol/", views.run_enrol, name="run-enrol"),
    path("runs/<int:pk>/withdraw/", views.run_withdraw, name="run-withdraw"),
    path("runs/<int:pk>/roster/", views.roster, name="run-roster"),
    path("runs/<int:pk>/roster.csv", views.roster_export, name="run-roster-export"),
    path("lessons/<int:pk>/", views.lesson_detail, name="lesson-detail"),
    path("lessons/<int:pk>/complete/", views.lesson_complete, name="lesson-complete"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    path("teaching/", views.teaching, name="teaching"),
    path("enrolments/<int:pk>/decide/", views.enrolment_decide, name="enrolment-decide"),
    path("enrolments/<int:pk>/<str:action>/", views.enrolment_action, name="enrolment-action"),
    path("institutions/<slug:slug>/bulk-enrol/", views.bulk_enrol, name="bulk-enrol"),
    path(
        "institutions/<slug:slug>/bulk-enrol/<int:pk>/",
        views.bulk_enrol_preview,
        name="bulk-enrol-preview",
    ),
]
