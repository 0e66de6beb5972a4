"""Academy settings: every knob comes from the environment, with embedded defaults.

The embedded default (nothing set) is a laptop: SQLite under ``var/``, a file-system Celery
broker, console e-mail.  Production sets ``DEBUG=0`` and must then provide a real
``SECRET_KEY`` and ``ALLOWED_HOSTS``; it refuses to start otherwise.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(env("ACADEMY_VAR_DIR", str(BASE_DIR / "var")))

_DEV_SECRET = "insecure-dev-key-only-for-DEBUG-never-in-production"  # noqa: S105
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=0) needs a random secret of 50+ characters; "
            "set DEBUG=1 for a development instance."
        )
    SECRET_KEY = _DEV_SECRET
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name this site's host names when DEBUG=0.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8300").rstrip("/")

# Verifiable credentials (credentials app): the issuer's signing key "<key id>:<secret multikey>"
# (make one with `manage.py credential_key`), the public keys of earlier ones, kept published so
# that what they signed still verifies ("<key id>:<public multikey>", comma-separated).
CREDENTIAL_KEY = env("ACADEMY_CREDENTIAL_KEY")
CREDENTIAL_RETIRED_KEYS = env_list("ACADEMY_CREDENTIAL_RETIRED_KEYS")
if not DEBUG and not CREDENTIAL_KEY:
    raise ImproperlyConfigured(
        "ACADEMY_CREDENTIAL_KEY is not set. Production (DEBUG=0) signs credentials with the "
        "factory's own key: make one with `manage.py credential_key` and keep it secret."
    )
CREDENTIAL_ISSUER_NAME = env("ACADEMY_CREDENTIAL_ISSUER_NAME", "National AI Factory")
CREDENTIAL_VALID_YEARS = env_int("ACADEMY_CREDENTIAL_VALID_YEARS", 0)  # 0: never expire

# Cohort tracking: raw learning events are kept this long, then purged (daily roll-ups stay).
ACTIVITY_RETENTION_DAYS = env_int("ACTIVITY_RETENTION_DAYS", 400)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our origin, not a CDN
    "oauth2_provider",
    "axes",
    "academy",
    "courses",
    "notebooks",
    "notebooks.sessions",
    "programmes",
    "credentials",
    "tracking",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the body (CSRF reads the form): oversized bodies are refused unread.
    "academy.limits.RequestBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "academy.audit.AuditContextMiddleware",
    # A selector's "not found or not yours" (ObjectDoesNotExist) is a page's 404.
    "academy.not_found.NotFoundMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "academy.urls"
WSGI_APPLICATION = "academy.wsgi.application"
ASGI_APPLICATION = "academy.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "academy.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'academy.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, beat) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # A file, not memory, so that a real Celery worker started by a test sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-academy-{os.getpid()}.sqlite3")}
else:
    # One test database per test process: several suites may run at once on one machine.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

AUTH_USER_MODEL = "academy.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)
INVITATION_MAX_AGE = env_int("INVITATION_MAX_AGE", 14 * 24 * 3600)

# Login rate limiting (django-axes): five failures lock the (ip, username) pair for an hour.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_HOURS", 1)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Reverse proxies in front of Academy.  The client address of audit rows, login lockouts and
# API throttling is the one the outermost of ours saw (academy.audit.client_ip); with 0,
# X-Forwarded-For is the client's own claim and is ignored.
PROXY_COUNT = env_int("PROXY_COUNT", 0)
if PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"PROXY_COUNT must be 0 or more, not {PROXY_COUNT}")
AXES_CLIENT_IP_CALLABLE = "academy.audit.client_ip"

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("sr-latn", _("Serbian (Latin)")),
    ("sr", _("Serbian (Cyrillic)")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", "Europe/Belgrade")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# The largest request body, checked from Content-Length before anything reads it
# (academy.limits); a multipart body may add 1 MB of fields and framing to a file this big.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# E-mail: console by default; SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Academy <academy@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env("EMAIL_HOST"),
                "port": env_int("EMAIL_PORT", 587),
                "username": env("EMAIL_HOST_USER"),
                "password": env("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
            },
        }
    }
else:
    # Development prints mail on the console; production without EMAIL_HOST uses the local MTA.
    _mail_default = (
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    )
    MAILERS = {"default": {"BACKEND": env("EMAIL_BACKEND", _mail_default)}}

# Security headers.  The CSP uses per-request nonces for the few inline scripts.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True


def _rate(name: str, default: str) -> str:
    value = env(name, default)
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must be a rate like 600/min, not {value!r}")
    return value


# Throttling counts in the cache: one per process by default; CACHE_URL=redis://… shares the
# counts between workers (and hosts).
CACHE_URL = env("CACHE_URL")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL or empty, not {CACHE_URL!r}")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "academy.api_errors.exception_handler",  # services' errors, one shape
    "DEFAULT_PARSER_CLASSES": [
        "academy.limits.JSONParser",  # too deeply nested JSON is a 400, not a 500
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # 429 with Retry-After past the rate; rates are read at each request (tests override them).
    "DEFAULT_THROTTLE_CLASSES": [
        "academy.limits.AnonRateThrottle",
        "academy.limits.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": _rate("API_THROTTLE_ANON", "60/min"),
        "user": _rate("API_THROTTLE_USER", "600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Academy API",
    "DESCRIPTION": "Courses, enrolment, graded notebook labs and GPU lab sessions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The docs pages load nothing from other origins: the CSP allows only ours, and centres
    # often run without outbound internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the public validator service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# OAuth2 / OpenID Connect provider for JupyterHub single sign-on.
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": env_bool("OIDC_ENABLED", False),
    "OIDC_RSA_PRIVATE_KEY": env("OIDC_RSA_PRIVATE_KEY"),
    "PKCE_REQUIRED": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Your name and cluster login",
        "email": "Your e-mail address",
        "groups": "The institutions you belong to",
    },
    "OAUTH2_VALIDATOR_CLASS": "academy.oauth.AcademyOAuth2Validator",
    # RFC 9700 (OAuth 2.0 security best current practice): no implicit or password grants,
    # S256 PKCE only, tokens only in headers, hashed at rest, refresh-token replay detection.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Plain http callbacks only for a development hub on localhost.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
}

# Celery: at-least-once delivery, so every task is idempotent.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "academy")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    # Above the longest task (a grading run is capped far below an hour).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "control", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The one beat schedule (seconds between runs); Celery reads it from here (academy/celery.py).
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "academy.tasks.heartbeat", "schedule": 30.0},
    "sessions-refresh": {"task": "labsessions.refresh_live", "schedule": 5.0},
    # grading jobs on the cluster: queued/running/ended, results read back, retries
    "grading-jobs-poll": {
        "task": "notebooks.tasks.poll_grading_jobs",
        "schedule": float(max(1, env_int("ACADEMY_GRADING_POLL_SECONDS", 5))),
    },
    # folders of finished grading and test jobs, once kept long enough
    "grading-spool-sweep": {"task": "notebooks.tasks.sweep_grading_spool", "schedule": 3600.0},
    # the grading queue: messages for tickets whose message was lost (the database is the queue)
    "grading-queue-sweep": {
        "task": "notebooks.tasks.sweep_grading_queue",
        "schedule": float(max(5, env_int("GRADING_QUEUE_SWEEP_SECONDS", 30))),
    },
    "sessions-cull-idle": {"task": "labsessions.cull_idle", "schedule": 60.0},
    "gpu-usage-sync": {"task": "labsessions.sync_usage", "schedule": 60.0},
    # servers on the hub that are not Academy sessions: stopped, GPU time recorded
    "sessions-sweep-stray": {"task": "labsessions.sweep_stray_servers", "schedule": 120.0},
    # a run that ends turns grades into results with no save: its people's programme progress
    "programmes-recompute-runs-ended": {
        "task": "programmes.tasks.recompute_runs_ended",
        "schedule": 3600.0,
    },
    # and its certificates (a passed run is issued its credential once the run is over)
    "credentials-issue-runs-ended": {
        "task": "credentials.tasks.issue_runs_ended",
        "schedule": 3600.0,
    },
    # tracking: learning events into daily rows; raw events past their retention; snapshots
    # of runs under way (due dates pass and runs end without a save to trigger a refresh)
    "tracking-roll-up": {"task": "tracking.tasks.roll_up", "schedule": 300.0},
    "tracking-purge-events": {"task": "tracking.tasks.purge_events", "schedule": 86400.0},
    "tracking-refresh-all": {"task": "tracking.tasks.refresh_all", "schedule": 86400.0},
    # the weekly digest to institution admins: checked hourly, sent once a week from Monday 07:00
    "tracking-weekly-digest": {"task": "tracking.tasks.send_weekly_digests", "schedule": 3600.0},
}
WORKER_HEARTBEAT_MAX_AGE = env_int("WORKER_HEARTBEAT_MAX_AGE", 120)

# Notebook labs: grading limits and the private store of sources and submissions.
NOTEBOOK_GRADING_TIMEOUT = env_int("NOTEBOOK_GRADING_TIMEOUT", 30)
NOTEBOOK_MAX_BYTES = env_int("NOTEBOOK_MAX_BYTES", 20 * 1024 * 1024)
NOTEBOOKS_PRIVATE_ROOT = Path(env("NOTEBOOKS_PRIVATE_ROOT", str(VAR_DIR / "private")))
# At most SUBMISSION_RATE_LIMIT submissions per student and lab in SUBMISSION_RATE_WINDOW
# seconds (0: no limit); more are refused with a message, earlier ones are kept.
SUBMISSION_RATE_LIMIT = env_int("SUBMISSION_RATE_LIMIT", 10)
SUBMISSION_RATE_WINDOW = env_int("SUBMISSION_RATE_WINDOW", 600)

# Lab sessions: the JupyterHub that spawns them, and Slurm's accounting.
HUB_URL = env("ACADEMY_HUB_URL", "http://127.0.0.1:8000").rstrip("/")
HUB_PUBLIC_URL = env("ACADEMY_HUB_PUBLIC_URL", HUB_URL).rstrip("/")
HUB_API_TOKEN = env("ACADEMY_HUB_API_TOKEN")
HUB_TIMEOUT = env_int("ACADEMY_HUB_TIMEOUT", 10)
SLURM_COMMAND_PREFIX = env("ACADEMY_SLURM_COMMAND_PREFIX")
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 60)
SESSION_EXTEND_MINUTES = env_int("SESSION_EXTEND_MINUTES", 30)
SESSION_REFRESH_SECONDS = env_int("SESSION_REFRESH_SECONDS", 3)
# The grading queue (notebooks.queue): a claimed ticket's lease (above the longest grading with
# its retries: another worker may take the ticket over after it), how long the queue may stand
# still with work waiting before the sweep sends messages again, and how long a page may show a
# queue snapshot (places in the queue) before reading it again.
GRADING_LEASE_SECONDS = env_int("GRADING_LEASE_SECONDS", 900)
GRADING_QUEUE_STALL_SECONDS = env_int("GRADING_QUEUE_STALL_SECONDS", 120)
GRADING_QUEUE_SNAPSHOT_SECONDS = env_int("GRADING_QUEUE_SNAPSHOT_SECONDS", 2)
# Sandboxed kernels each worker child starts ahead of need (0: off, a kernel on demand).
NOTEBOOK_KERNEL_POOL = env_int("NOTEBOOK_KERNEL_POOL", 1)

# Grading on the cluster (notebooks.cluster_grading): labs with a grading profile are graded as
# Slurm batch jobs.  Inputs and results go through the spool, a folder both this host and the
# compute nodes see (a shared file system on a cluster); the node never reads the database.
GRADING_SPOOL = Path(env("ACADEMY_GRADING_SPOOL") or VAR_DIR / "grading-spool")
GRADING_ACCOUNT = env("ACADEMY_GRADING_ACCOUNT")  # sbatch --account (empty: the default)
GRADING_QOS = env("ACADEMY_GRADING_QOS")  # sbatch --qos (empty: the default)
GRADING_MAX_ATTEMPTS = env_int("ACADEMY_GRADING_MAX_ATTEMPTS", 3)  # jobs per grading run
# Hours a finished job's folder (its inputs hold the solution and hidden tests) stays in the
# spool for an operator to look at, before the hourly sweep removes it.
GRADING_SPOOL_KEEP_HOURS = env_int("ACADEMY_GRADING_SPOOL_KEEP_HOURS", 24)
# Seconds of the job's wall time kept for the sandbox start and the result: the notebook gets
# the profile's wall time minus this (a notebook that runs longer ends as a "time limit").
GRADING_MARGIN_SECONDS = env_int("ACADEMY_GRADING_MARGIN_SECONDS", 20)
# What the batch script runs on the node (with the job folder as its last argument), from
# ACADEMY_GRADING_CODE_DIR; production: "sudo -n /usr/local/sbin/academy-grade-job".
GRADING_JOB_COMMAND = (
    env("ACADEMY_GRADING_JOB_COMMAND") or f"{sys.executable} -m notebooks.grader job"
)
GRADING_CODE_DIR = env("ACADEMY_GRADING_CODE_DIR") or str(BASE_DIR)
GRADING_JOB_PROLOGUE = env("ACADEMY_GRADING_JOB_PROLOGUE")  # e.g. "module load python/3.12"
GRADING_GPU_DEVICE_DIR = env("ACADEMY_GRADING_GPU_DEVICE_DIR") or "/dev"  # nvidia<N> nodes

# Courses: the largest CSV of a bulk enrolment, and the largest content attachment.
COURSES_BULK_MAX_BYTES = env_int("COURSES_BULK_MAX_BYTES", 2 * 1024 * 1024)
COURSES_ATTACHMENT_MAX_BYTES = env_int("COURSES_ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024)

# `manage.py runplatform` (make run): where it serves, how loudly worker and beat log, and
# whether it starts the local JupyterHub of ops/local-hub.sh (kept in ACADEMY_LOCAL_HUB_STATE,
# the same default as the script).
ACADEMY_HOST = env("ACADEMY_HOST", "127.0.0.1")
ACADEMY_PORT = env_int("ACADEMY_PORT", 8300)
WORKER_LOG_LEVEL = env("WORKER_LOG_LEVEL", "warning").lower()
ACADEMY_LOCAL_HUB = env_bool("ACADEMY_LOCAL_HUB", True)
ACADEMY_LOCAL_HUB_STATE = Path(env("ACADEMY_LOCAL_HUB_STATE") or VAR_DIR / "hub")

for _name, _minimum in (
    ("NOTEBOOK_GRADING_TIMEOUT", 1),
    ("NOTEBOOK_MAX_BYTES", 1),
    ("SUBMISSION_RATE_LIMIT", 0),
    ("SUBMISSION_RATE_WINDOW", 1),
    ("NOTEBOOK_KERNEL_POOL", 0),
    ("GRADING_MAX_ATTEMPTS", 1),
    ("GRADING_MARGIN_SECONDS", 0),
    ("COURSES_BULK_MAX_BYTES", 1),
    ("COURSES_ATTACHMENT_MAX_BYTES", 1),
):
    if globals()[_name] < _minimum:
        raise ImproperlyConfigured(f"{_name} must be {_minimum} or more, not {globals()[_name]}")
if not 0 < ACADEMY_PORT < 65536:
    raise ImproperlyConfigured(f"ACADEMY_PORT must be a TCP port, not {ACADEMY_PORT}")
if WORKER_LOG_LEVEL not in {"debug", "info", "warning", "error", "critical"}:
    raise ImproperlyConfigured(
        "WORKER_LOG_LEVEL must be debug, info, warning, error or critical, "
        f"not {WORKER_LOG_LEVEL!r}"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
