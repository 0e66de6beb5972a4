from django.urls import path

from . import views

urlpatterns = [
    # The site's home is the course dashboard; academy's URL root includes this module.
    path("", views.dashboard, name="home"),
    path("courses/", views.catalogue, name="course-catalogue"),
    path("courses/<str:code>/", views.course_detail, name="course-detail"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/enrol/", views.run_enrol, name="run-enrol"),
    path("runs/<int:pk>/withdraw/", views.run_withdraw, name="run-withdraw"),
    path("runs/<int:pk>/roster/", views.roster, name="run-roster"),
    path("runs/<int:pk>/roster.csv", views.roster_export, name="run-roster-export"),
    path("runs/<int:pk>/settings/", views.run_settings, name="run-settings"),
    path(
        "invite-codes/<int:pk>/deactivate/",
        views.invite_code_deactivate,
        name="invite-code-deactivate",
    ),
    path("runs/<int:pk>/content/", views.content_edit, name="run-content"),
    path("runs/<int:pk>/content/copy/", views.content_copy, name="run-content-copy"),
    path("modules/<int:pk>/rename/", views.module_rename, name="module-rename"),
    path("modules/<int:pk>/move/", views.module_move, name="module-move"),
    path("modules/<int:pk>/delete/", views.module_delete, name="module-delete"),
    path("modules/<int:pk>/lessons/", views.lesson_add, name="lesson-add"),
    path("lessons/<int:pk>/edit/", views.lesson_edit, name="lesson-edit"),
    path("lessons/<int:pk>/preview/", views.lesson_preview, name="lesson-preview"),
    path("lessons/<int:pk>/move/", views.lesson_move, name="lesson-move"),
    path("lessons/<int:pk>/delete/", views.lesson_delete, name="lesson-delete"),
    path("lessons/<int:pk>/attachments/", views.attachment_upload, name="attachment-upload"),
    path("attachments/<int:pk>/delete/", views.attachment_remove, name="attachment-delete"),
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
