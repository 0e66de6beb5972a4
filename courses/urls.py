from django.urls import path

from .views import authoring, bulk, catalogue, content, dashboard, run_settings, teaching

urlpatterns = [
    # The site's home is the course dashboard; academy's URL root includes this module.
    path("", dashboard.dashboard, name="home"),
    path("courses/", catalogue.catalogue, name="course-catalogue"),
    path("courses/<str:code>/", catalogue.course_detail, name="course-detail"),
    path("runs/<int:pk>/", content.run_detail, name="run-detail"),
    path("runs/<int:pk>/enrol/", catalogue.run_enrol, name="run-enrol"),
    path("runs/<int:pk>/withdraw/", catalogue.run_withdraw, name="run-withdraw"),
    path("runs/<int:pk>/roster/", teaching.roster, name="run-roster"),
    path("runs/<int:pk>/roster.csv", teaching.roster_export, name="run-roster-export"),
    path("runs/<int:pk>/settings/", run_settings.run_settings, name="run-settings"),
    path(
        "invite-codes/<int:pk>/deactivate/",
        run_settings.invite_code_deactivate,
        name="invite-code-deactivate",
    ),
    path("runs/<int:pk>/content/", authoring.content_edit, name="run-content"),
    path("runs/<int:pk>/content/copy/", authoring.content_copy, name="run-content-copy"),
    path("modules/<int:pk>/rename/", authoring.module_rename, name="module-rename"),
    path("modules/<int:pk>/move/", authoring.module_move, name="module-move"),
    path("modules/<int:pk>/delete/", authoring.module_delete, name="module-delete"),
    path("modules/<int:pk>/lessons/", authoring.lesson_add, name="lesson-add"),
    path("lessons/<int:pk>/edit/", authoring.lesson_edit, name="lesson-edit"),
    path("lessons/<int:pk>/preview/", authoring.lesson_preview, name="lesson-preview"),
    path("lessons/<int:pk>/move/", authoring.lesson_move, name="lesson-move"),
    path("lessons/<int:pk>/delete/", authoring.lesson_delete, name="lesson-delete"),
    path("lessons/<int:pk>/attachments/", authoring.attachment_upload, name="attachment-upload"),
    path("attachments/<int:pk>/delete/", authoring.attachment_remove, name="attachment-delete"),
    path("lessons/<int:pk>/", content.lesson_detail, name="lesson-detail"),
    path("lessons/<int:pk>/complete/", content.lesson_complete, name="lesson-complete"),
    path("attachments/<int:pk>/", content.attachment_download, name="attachment-download"),
    path("teaching/", teaching.teaching, name="teaching"),
    path("enrolments/<int:pk>/decide/", teaching.enrolment_decide, name="enrolment-decide"),
    path("enrolments/<int:pk>/<str:action>/", teaching.enrolment_action, name="enrolment-action"),
    path("institutions/<slug:slug>/bulk-enrol/", bulk.bulk_enrol, name="bulk-enrol"),
    path(
        "institutions/<slug:slug>/bulk-enrol/<int:pk>/",
        bulk.bulk_enrol_preview,
        name="bulk-enrol-preview",
    ),
]
