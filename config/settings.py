"""Modelgate settings: everything comes from the environment; nothing set gives the embedded default
(SQLite and artifacts under ./var/, Redis on localhost)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MODELGATE_VAR_DIR", BASE_DIR / "var"))

TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off")


def env_bool(name: str, default: bool = False) -> bool:
    # A typo (DEBUG=ture) must stop the process, not silently mean False: that is how debug mode or a proxy
    # setting ends up other than the operator believes.
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(
        f"{name}={os.environ[name]!r} is not a boolean: use 1/0, true/false, yes/no or on/off (any case)"
    )


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # A built-in key would sign every session and password reset of every installation alike.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: export a long random string (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'); only DEBUG=true runs without one. make run generates one under ./var/"
        )
    SECRET_KEY = "modelgate-embedded-insecure-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "axes",  # login-form lockout (see "Throttling failed authentication" below)
    "tenants",
    "accounts",
    "registry.tracking",
    "registry",
]

MIDDLEWARE = [
    # Outermost: the three MLflow serving reads answered from Redis when everything is known, else passed on
    # untouched (registry/fastpath.py).
    "registry.fastpath.ServingFastPathMiddleware",
    "config.unavailable.DatabaseUnavailableMiddleware",  # a database blip is a 503, not a 500
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.TenantMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a django-axes lockout into its page; keep it last
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production and tests); SQLite under ./var/ when unset.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'modelgate.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a web process and a worker on one file: wait for locks instead of failing,
    # take the write lock when a transaction starts (no deadlock-prone lock upgrades), and use WAL so readers
    # never wait for the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Object permissions are django-guardian rows, evaluated by Modelgate's own gatekeeper (registry/permissions.py:
# ordered levels, ownership by team, the tenant's default read), not by guardian's backend; see the README.
# django-axes' backend first: it refuses a locked-out sign-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "accounts.throttling.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]  # guardian's backend is deliberately not installed (above)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests are refused before checks

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
# The web views' own CSS (registry/web); collectstatic copies it to STATIC_ROOT, WhiteNoise serves it.
STATICFILES_DIRS = [BASE_DIR / "static"]

# Redis: Celery broker and the cache.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "modelgate"),
        "TIMEOUT": 300,
        # A Redis outage must cost a request at most a moment, never a stall: short socket timeouts and no
        # retries (redis-py retries 3 times with backoff by default). Callers treat a cache error as a miss.
        "OPTIONS": {
            "socket_connect_timeout": float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.5")),
            "socket_timeout": float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.5")),
            "retry": Retry(NoBackoff(), 0),
        },
    }
}

# Artifact storage (django-storages): local filesystem by default, S3 by configuration.
ARTIFACT_STORAGE = os.environ.get("ARTIFACT_STORAGE", "file").lower()
ARTIFACT_ROOT = Path(os.environ.get("ARTIFACT_ROOT", VAR_DIR / "artifacts"))
if ARTIFACT_STORAGE == "s3":
    _artifacts = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("S3_BUCKET", "modelgate"),
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "file_overwrite": True,  # content-addressed keys: same key, same bytes
            "default_acl": None,
            "querystring_auth": True,
        },
    }
elif ARTIFACT_STORAGE == "file":
    _artifacts = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ARTIFACT_ROOT), "base_url": None},
    }
else:
    raise RuntimeError(f"ARTIFACT_STORAGE must be 'file' or 's3', not {ARTIFACT_STORAGE!r}")
# S3 multipart uploads (registry/artifacts/storage.py): part size in MiB (S3 allows 5 to 5120) and how many parts
# are in flight at once; a web process buffers at most about their product per upload.
# Unreferenced blobs younger than this are never collected: an upload stores its bytes before recording the row.
ARTIFACT_GC_GRACE_SECONDS = int(os.environ.get("ARTIFACT_GC_GRACE_SECONDS") or "3600")
ARTIFACT_S3_PART_SIZE = int(os.environ.get("S3_PART_SIZE_MB") or "8") * 1024 * 1024
ARTIFACT_S3_MAX_CONCURRENCY = int(os.environ.get("S3_MAX_CONCURRENCY") or "4")
if not 5 <= ARTIFACT_S3_PART_SIZE // (1024 * 1024) <= 5120 or ARTIFACT_S3_MAX_CONCURRENCY < 1:
    raise RuntimeError("S3_PART_SIZE_MB must be 5 to 5120 and S3_MAX_CONCURRENCY at least 1")
# Presigned S3 downloads (registry/mlflow_api/artifacts.py): when on, a whole-file download is authorised and
# audited here, then answered with a 302 to a presigned GET of the blob valid for ARTIFACT_PRESIGNED_TTL_SECONDS, so
# the bytes flow from S3 to the client instead of through a web process. Only S3 can presign: refused on files.
ARTIFACT_PRESIGNED_DOWNLOADS = env_bool("ARTIFACT_PRESIGNED_DOWNLOADS", False)
if ARTIFACT_PRESIGNED_DOWNLOADS and ARTIFACT_STORAGE != "s3":
    raise ImproperlyConfigured("ARTIFACT_PRESIGNED_DOWNLOADS=true needs ARTIFACT_STORAGE=s3")
_presigned_ttl = os.environ.get("ARTIFACT_PRESIGNED_TTL_SECONDS", "").strip() or "300"
# Short-lived by design: a leaked URL is a bearer credential for that blob until it expires.
if not _presigned_ttl.isdigit() or not 10 <= int(_presigned_ttl) <= 3600:
    raise ImproperlyConfigured(
        f"ARTIFACT_PRESIGNED_TTL_SECONDS={_presigned_ttl!r} must be a whole number of seconds from 10 to 3600"
    )
ARTIFACT_PRESIGNED_TTL_SECONDS = int(_presigned_ttl)
# Resumable uploads (registry/artifacts/uploads): sessions left open longer than this expire and their parts go;
# the part size a session gets when the client names none (S3 needs at least 5 MiB for every part but the last).
ARTIFACT_UPLOAD_SESSION_HOURS = float(os.environ.get("ARTIFACT_UPLOAD_SESSION_HOURS") or "24")
ARTIFACT_UPLOAD_PART_SIZE = int(os.environ.get("ARTIFACT_UPLOAD_PART_SIZE_MB") or "16") * 1024 * 1024
# Seconds the worker may take to complete one (assemble, hash, copy: a few GB on S3 take minutes).
ARTIFACT_UPLOAD_COMPLETE_TIME_LIMIT = int(os.environ.get("ARTIFACT_UPLOAD_COMPLETE_TIME_LIMIT") or "1800")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "artifacts": _artifacts,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "modelgate")
CELERY_TASK_ALWAYS_EAGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelgate API",
    "DESCRIPTION": "Native REST API of the Modelgate multi-tenant model registry. "
    "Authenticate with `Authorization: Bearer mgt_…`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}
# Swagger UI and Redoc from drf-spectacular-sidecar's static files, not a CDN: the docs work offline.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"
SPECTACULAR_SETTINGS["SWAGGER_UI_FAVICON_HREF"] = "SIDECAR"
SPECTACULAR_SETTINGS["REDOC_DIST"] = "SIDECAR"

# Modelgate
MODELGATE: dict[str, Any] = {
    # Aliases whose moves need manage_production (per tenant override in Tenant.protected_aliases).
    "PROTECTED_ALIASES": env_list("MODELGATE_PROTECTED_ALIASES", "champion,production"),
    # How long a create-version request waits for the worker to finish registration before answering.
    "REGISTRATION_WAIT_SECONDS": float(os.environ.get("MODELGATE_REGISTRATION_WAIT_SECONDS", "5")),
    "TOKEN_DEFAULT_DAYS": int(os.environ.get("MODELGATE_TOKEN_DEFAULT_DAYS", "365")),
    "PUBLIC_URL": os.environ.get("MODELGATE_PUBLIC_URL", "http://127.0.0.1:8000"),
    # How long an Idempotency-Key is remembered (registry/idempotency.py).
    "IDEMPOTENCY_TTL_HOURS": float(os.environ.get("MODELGATE_IDEMPOTENCY_TTL_HOURS", "24")),
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024  # JSON bodies; artifact uploads stream and bypass it
SESSION_COOKIE_HTTPONLY = True
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None

# --- Transport security -----------------------------------------------------------------------------------------
# Behind TLS the browser must never send the session or CSRF cookie over plain HTTP. HSTS is opt-in
# (SECURE_HSTS_SECONDS): once a browser has seen it, the host cannot go back to HTTP for that long.
SESSION_COOKIE_SECURE = BEHIND_TLS_PROXY
CSRF_COOKIE_SECURE = BEHIND_TLS_PROXY
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# --- Throttling failed authentication -----------------------------------------------------------------------------
# API tokens: accounts/throttling.py counts failures in Redis per client address and per account (token prefix).
# The `throttle` cache is the default Redis with short timeouts and no retries: it is asked on every token request
# and must fail fast (open) when Redis is away.
CACHES["throttle"] = {
    **CACHES["default"],
    "OPTIONS": {
        "socket_timeout": 0.2,
        "socket_connect_timeout": 0.2,
        "retry": None,
        "retry_on_timeout": False,
    },
}
MODELGATE_AUTH_THROTTLE: dict[str, Any] = {
    "ENABLED": env_bool("MODELGATE_AUTH_THROTTLE", True),
    "WINDOW_SECONDS": int(os.environ.get("MODELGATE_AUTH_THROTTLE_WINDOW", "300")),
    "ADDRESS_LIMIT": int(os.environ.get("MODELGATE_AUTH_THROTTLE_ADDRESS_LIMIT", "20")),
    "ACCOUNT_LIMIT": int(os.environ.get("MODELGATE_AUTH_THROTTLE_ACCOUNT_LIMIT", "10")),
    # With BEHIND_TLS_PROXY, the client address is the X-Forwarded-For entry this many places from the right.
    "TRUSTED_PROXIES": int(os.environ.get("MODELGATE_TRUSTED_PROXIES", "1")),
}
# The sign-in form and the admin login: django-axes, in the database (sign-in keeps working when Redis is down).
# A username or an address is locked out after ACCOUNT_LIMIT failures, for one window.
AXES_ENABLED = MODELGATE_AUTH_THROTTLE["ENABLED"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = MODELGATE_AUTH_THROTTLE["ACCOUNT_LIMIT"]
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_COOLOFF_TIME = timedelta(seconds=MODELGATE_AUTH_THROTTLE["WINDOW_SECONDS"])
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.axes_client_address"
AXES_LOCKOUT_CALLABLE = "accounts.throttling.login_lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are what matter; no row per successful sign-in
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every process start (management commands print one line on errors)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
