from django.apps import AppConfig


class SessionsConfig(AppConfig):
    """Lab sessions on JupyterHub (Slurm GPU partition), GPU budgets and usage accounting."""

    name = "notebooks.sessions"
    label = "labsessions"
    verbose_name = "Lab sessions and GPU accounting"
