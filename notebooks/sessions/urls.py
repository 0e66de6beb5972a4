from django.urls import path

from . import views

urlpatterns = [
    path("labs/<int:lab_id>/session/", views.session_card, name="session-card"),
    path("labs/<int:lab_id>/session/open/", views.session_open, name="session-open"),
    path("labs/<int:lab_id>/authoring/", views.authoring_card, name="authoring-card"),
    path("labs/<int:lab_id>/authoring/open/", views.authoring_open, name="authoring-open"),
    path("sessions/<int:pk>/save-version/", views.authoring_save, name="authoring-save"),
    path("sessions/<int:pk>/stop/", views.session_stop, name="session-stop"),
    path("sessions/<int:pk>/extend/", views.session_extend, name="session-extend"),
    path("sessions/<int:pk>/submit/", views.session_submit, name="session-submit"),
    path("runs/<int:run_id>/gpu/", views.gpu_usage, name="gpu-usage"),
]
