"""Settings shared by every environment. Environment variables override defaults.

- ``DATABASE_URL``: a PostgreSQL (with pgvector) URL; unset → the embedded server.
- ``RAGDESK_DATA_DIR``: where the embedded server and other local state live.
- ``RAGDESK_FOLDER_ROOTS``: ``os.pathsep``-separated folders that folder assets may read.
- ``RAGDESK_BROKER``: ``orm`` (default) or ``redis``; ``REDIS_URL`` for the latter.
- ``RAGDESK_FETCH_ALLOW_NETWORKS``: comma-separated CIDR networks that web and git
  sources may reach although they are private, loopback or link-local (default none).
- ``RAGDESK_GIT_CACHE_DIR``: where git sources keep their clones (a cache).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from config import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("RAGDESK_DATA_DIR", BASE_DIR / ".data"))



def _local_secret_key() -> str:
    """A random key made once per data folder (git-ignored), for machines without
    DJANGO_SECRET_KEY; it also signs the API's JWTs (HS256 wants ≥ 32 bytes)."""
    import secrets

    path = DATA_DIR / "secret_key"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:  # "x": of two processes starting at once, one writes and both read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    except FileExistsError:
        pass
    return path.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _local_secret_key()
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "template_partials.apps.SimpleAppConfig",
    "assets_app",
    "operations_app",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASE_NAME = os.environ.get("RAGDESK_DB_NAME", "ragdesk")
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            **embedded_db.start(DATA_DIR, DATABASE_NAME),
        }
    }
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads: Django streams files over 2.5 MB to disk; the 50 MB per-file limit is
# enforced by the form and the API (413), not here.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760
DATA_UPLOAD_MAX_NUMBER_FILES = 200

# --- ragdesk ---------------------------------------------------------------
RAGDESK_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
RAGDESK_FOLDER_ROOTS = [
    Path(p).resolve()
    for p in os.environ.get("RAGDESK_FOLDER_ROOTS", str(BASE_DIR / "docs")).split(os.pathsep)
    if p
]
# A batch is embedded and stored in one transaction; cancellation is checked between
# batches and at least every RAGDESK_CANCEL_CHECK_SECONDS while parsing. A cancel
# waits for the batch in flight, so batches hold at most RAGDESK_EMBED_BATCH_SIZE
# chunks and are sized to take about RAGDESK_EMBED_BATCH_SECONDS at the provider's
# measured speed (Cancel → CANCELLED within 2 s).
RAGDESK_EMBED_BATCH_SIZE = int(os.environ.get("RAGDESK_EMBED_BATCH_SIZE", "64"))
RAGDESK_EMBED_BATCH_SECONDS = float(os.environ.get("RAGDESK_EMBED_BATCH_SECONDS", "1"))
RAGDESK_CANCEL_CHECK_SECONDS = 0.5
# The OpenAI-compatible provider (assets_app/embedding/openai.py, docs/deployment.md):
# requests per batch in parallel; OpenAI's documented per-request limits (2,048 inputs,
# 300,000 tokens summed over inputs); retries of 429/5xx/timeouts; requests/min caps
# shared by all processes (PostgreSQL, assets_app/embedding/ratelimit.py; 0 = no cap).
_env = os.environ.get
RAGDESK_EMBED_CONCURRENCY = int(_env("RAGDESK_EMBED_CONCURRENCY", "4"))
RAGDESK_EMBED_MAX_REQUEST_INPUTS = int(_env("RAGDESK_EMBED_MAX_REQUEST_INPUTS", "2048"))
RAGDESK_EMBED_MAX_REQUEST_TOKENS = int(
    _env("RAGDESK_EMBED_MAX_REQUEST_TOKENS", "300000")
)
RAGDESK_EMBED_MAX_ATTEMPTS = int(_env("RAGDESK_EMBED_MAX_ATTEMPTS", "5"))
RAGDESK_EMBED_SEARCH_MAX_ATTEMPTS = int(_env("RAGDESK_EMBED_SEARCH_MAX_ATTEMPTS", "2"))
RAGDESK_EMBED_RETRY_BASE_SECONDS = float(_env("RAGDESK_EMBED_RETRY_BASE_SECONDS", "1"))
RAGDESK_EMBED_RETRY_MAX_WAIT_SECONDS = float(
    _env("RAGDESK_EMBED_RETRY_MAX_WAIT_SECONDS", "60")
)
RAGDESK_EMBED_RPM = float(_env("RAGDESK_EMBED_RPM", "3000"))
RAGDESK_EMBED_RPM_PER_ASSET = float(_env("RAGDESK_EMBED_RPM_PER_ASSET", "1000"))
# A running operation writes a heartbeat at least every 5 s (also while an embedding
# request is in flight); one silent for longer than this is requeued by the reaper
# (every 30 s and at each worker's start), after RAGDESK_MAX_ATTEMPTS losses it FAILS.
RAGDESK_STALE_AFTER_SECONDS = int(os.environ.get("RAGDESK_STALE_AFTER_SECONDS", "60"))
RAGDESK_MAX_ATTEMPTS = int(os.environ.get("RAGDESK_MAX_ATTEMPTS", "3"))
# A RUNNING operation whose cancel was requested and whose worker has been silent this
# long (three missed heartbeats) is ended CANCELLED by the reaper: its worker is gone.
RAGDESK_CANCEL_STALE_AFTER_SECONDS = float(
    os.environ.get("RAGDESK_CANCEL_STALE_AFTER_SECONDS", "15")
)
# A PENDING operation sent to the broker this long ago (s) that no worker took, while
# nothing of its asset runs, is sent again: a dying cluster takes tasks with it.
RAGDESK_RESEND_AFTER_SECONDS = float(os.environ.get("RAGDESK_RESEND_AFTER_SECONDS", "120"))
# A worker that lost its database connection tries to reconnect this long (s) before
# leaving the operation to the reaper.
RAGDESK_DB_RECONNECT_SECONDS = float(os.environ.get("RAGDESK_DB_RECONNECT_SECONDS", "60"))

# Web and git sources (docs/sources.md). Fetching never reaches a private, loopback,
# link-local or otherwise non-global address (169.254.169.254, 127.0.0.1, 10/8, …),
# checked on the resolved IP of every redirect hop, unless its network is listed here.
RAGDESK_FETCH_ALLOW_NETWORKS = [
    n.strip() for n in os.environ.get("RAGDESK_FETCH_ALLOW_NETWORKS", "").split(",")
    if n.strip()
]
RAGDESK_FETCH_TIMEOUT_SECONDS = 20.0  # connect, read, write: each
RAGDESK_FETCH_MAX_BYTES = 20 * 1024 * 1024  # one page or sitemap
RAGDESK_FETCH_MAX_REDIRECTS = 5
RAGDESK_FETCH_ATTEMPTS = 3  # per request, on connection errors and 429/502/503/504
RAGDESK_FETCH_USER_AGENT = "ragdesk/0.1"  # also the robots.txt product token
# POST …/assets/{asset}:estimate stops (and says it is incomplete) after this long or
# this many documents (assets_app/ingestion/plan.py).
RAGDESK_ESTIMATE_MAX_SECONDS = 30
RAGDESK_ESTIMATE_MAX_DOCUMENTS = 2000
RAGDESK_WEB_MAX_PAGES = 1000  # the most a web asset's maxPages may ask for
RAGDESK_GIT_CACHE_DIR = Path(
    os.environ.get("RAGDESK_GIT_CACHE_DIR", DATA_DIR / "git-cache")
)
RAGDESK_GIT_TIMEOUT_SECONDS = 300  # one clone or fetch
RAGDESK_GIT_MAX_FILE_BYTES = 20 * 1024 * 1024  # larger files become FAILED documents
# Auto-update (issue 5): the public base URL of webhook URLs (e.g.
# https://ragdesk.example.com), for servers behind a proxy that rewrites the host;
# unset → the host of the request that minted the webhook.
RAGDESK_PUBLIC_URL = os.environ.get("RAGDESK_PUBLIC_URL", "").rstrip("/")
# Candidates an HNSW search keeps per step (pgvector's hnsw.ef_search, default 40);
# higher is slower and finds more of the true nearest chunks (bench/search.py).
RAGDESK_HNSW_EF_SEARCH = int(os.environ.get("RAGDESK_HNSW_EF_SEARCH", "100"))

# --- the API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.api_auth.ApiTokenAuthentication",
        "config.api_auth.TenantJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["config.api_auth.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("RAGDESK_API_RATE", "1200/min")},
    "EXCEPTION_HANDLER": "config.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # A JWT carries a hash of the password hash: changing the password revokes them all.
    "CHECK_REVOKE_TOKEN": True,
}
# The schema at /v1/openapi.json, Swagger UI at /v1/docs (config.openapi, docs/api.md).
SPECTACULAR_SETTINGS = {
    "TITLE": "ragdesk API",
    "DESCRIPTION": "Assets, documents, chunks and long-running operations of RAG "
    "ingestion. A walkthrough with curl, the error types and the conventions are in "
    "docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],  # the schema and its UI are public
    "SWAGGER_UI_DIST": "SIDECAR",  # no CDN: served from drf-spectacular-sidecar
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1(/tenants/\{tenant\})?",
    "ENUM_NAME_OVERRIDES": {
        "OperationStatus": "operations_app.models.OperationStatus",
        "OperationType": "operations_app.models.OperationType",
        "DocumentStatus": "assets_app.models.DocumentStatus",
        "Role": "assets_app.models.Role",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.forbid_unknown_request_fields",
    ],
}
# The cache holds the API's throttle counters, which every web process must share:
# Redis when REDIS_URL is set; else, with an external DATABASE_URL (several machines),
# a table in PostgreSQL; else (the embedded server: one machine, `make run` serves
# from one process) process memory, which costs no query or commit per request.
if os.environ.get("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["REDIS_URL"]}}
elif os.environ.get("DATABASE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "ragdesk_cache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- django-q2 -------------------------------------------------------------
# An operation is cancelled cooperatively, so the hard timeout only catches a hung
# worker. retry must exceed timeout, or the broker hands a running task out twice.
Q_CLUSTER = {
    "name": "ragdesk",
    "workers": int(os.environ.get("RAGDESK_WORKERS", "2")),
    "timeout": 3600,
    "retry": 3720,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.2,
    "save_limit": 250,
    "label": "Django Q2",
}
if os.environ.get("RAGDESK_BROKER", "orm") == "redis":
    Q_CLUSTER["redis"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "ragdesk": {"level": "INFO"},
        "django_q": {"level": "WARNING"},
    },
}

# Outbound notifications (operations_app/notifications): attempts per delivery, the
# wait after attempt n (BACKOFF × 2^(n-1), capped), and the time limit of one POST.
RAGDESK_NOTIFY_MAX_ATTEMPTS = int(os.environ.get("RAGDESK_NOTIFY_MAX_ATTEMPTS", "8"))
RAGDESK_NOTIFY_BACKOFF_SECONDS = float(
    os.environ.get("RAGDESK_NOTIFY_BACKOFF_SECONDS", "30")
)
RAGDESK_NOTIFY_BACKOFF_MAX_SECONDS = 3600
RAGDESK_NOTIFY_TIMEOUT_SECONDS = 10
