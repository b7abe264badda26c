"""Settings for the portal, read from the environment (django-environ).

Every variable defaults to the embedded default described in ARCHITECTURE.md:
SQLite, media and outboxes under DATA_DIR, a filesystem Celery broker, and
secrets generated into DATA_DIR once. Setting DATABASE_URL, REDIS_URL,
EMAIL_URL, SMS_BACKEND and the S3 variables turns the same code into the
production shape.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import environ

from portal.filemodes import apply_umask, file_mode, folder_mode, parse_umask

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Before anything is created: every file this process writes (database, stored DICOM, previews,
# scratch, outboxes) holds or may hold identifiers, so it is 0600 (0640 with UMASK=027).
UMASK = parse_umask(env.str("UMASK", default="077"))
apply_umask(UMASK)
# Django's storage chmods uploads and their folders itself (0644/0755 by default): same mask.
FILE_UPLOAD_PERMISSIONS = file_mode(UMASK)
FILE_UPLOAD_DIRECTORY_PERMISSIONS = folder_mode(UMASK)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

PORT = env.int("PORT", default=8000)
PUBLIC_URL = env.str("PUBLIC_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
DICOM_PORT = env.int("DICOM_PORT", default=11112)
DICOM_AE_TITLE = env.str("DICOM_AE_TITLE", default="PORTAL")
# Loopback unless asked: a demo or a fresh install is not reachable from the network by accident.
# Production sets the address the modalities (or the VPN / TLS tunnel) reach, e.g. 0.0.0.0.
DICOM_BIND = env.str("DICOM_BIND", default="127.0.0.1")
# A peer that stalls (an A-ASSOCIATE that never comes, a PDU cut short, a silent association) is
# dropped after these many seconds, so it cannot hold a slot (issue 16.1).
DICOM_ACSE_TIMEOUT = env.float("DICOM_ACSE_TIMEOUT", default=15)
DICOM_DIMSE_TIMEOUT = env.float("DICOM_DIMSE_TIMEOUT", default=60)
DICOM_NETWORK_TIMEOUT = env.float("DICOM_NETWORK_TIMEOUT", default=30)
# Concurrent associations in all and from one address. Each is two threads and, while it stores,
# one database connection; 8 per core is far more than a clinic's devices send at once.
DICOM_MAX_ASSOCIATIONS = env.int("DICOM_MAX_ASSOCIATIONS", default=max(16, 8 * (os.cpu_count() or 1)))
DICOM_MAX_ASSOCIATIONS_PER_PEER = env.int("DICOM_MAX_ASSOCIATIONS_PER_PEER", default=4)
# The largest P-DATA PDU we announce; peers split objects into PDUs of at most this size.
DICOM_MAX_PDU_BYTES = env.int("DICOM_MAX_PDU_BYTES", default=1024 * 1024)
# DICOM TLS (PS3.15 B.1): with a certificate and key the listener also serves TLS on DICOM_TLS_PORT;
# with a CA file it requires client certificates signed by that CA (mutual TLS).
DICOM_TLS_CERT_FILE = env.str("DICOM_TLS_CERT_FILE", default="")
DICOM_TLS_KEY_FILE = env.str("DICOM_TLS_KEY_FILE", default="")
DICOM_TLS_CA_FILE = env.str("DICOM_TLS_CA_FILE", default="")
DICOM_TLS_PORT = env.int("DICOM_TLS_PORT", default=2762)


def _secret_from_data_dir(name: str) -> str:
    """Return a secret generated once into DATA_DIR, so restarts keep sessions and UID mappings."""
    path = DATA_DIR / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _secret_from_data_dir("secret_key")
# The anonymizer's HMAC key: UIDs remapped with it stay consistent across jobs, and
# nobody without it can compute a new UID from an original one.
ANONYMIZER_KEY = env.str("ANONYMIZER_KEY", default="") or _secret_from_data_dir("anonymizer_key")

DEBUG = env.bool("DEBUG", default=False)
PRODUCTION = env.bool("PRODUCTION", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if not PRODUCTION else [])
if PUBLIC_URL:
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "django_ratelimit",
    "sharing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # 413 for bodies over MAX_UPLOAD_BYTES while they stream; before CSRF, which reads POST bodies.
    "sharing.ingest.upload_limit.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a django-ratelimit block into our 429 page or JSON (RATELIMIT_VIEW).
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server, the worker and the DICOM listener
    # write to the embedded database at the same time without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Staff login lockout (django-axes): AxesStandaloneBackend refuses a locked-out login before the
# password is checked. Every login form (/login/, /admin/login/) goes through authenticate() with
# the request, so both count. Locked per username and IP together, so a stranger cannot lock a
# colleague out from elsewhere; one address is also locked across usernames (password spraying)
# at a higher limit, as a clinic's staff share a NAT address. The lock lifts after AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_IP_FAILURE_LIMIT = env.int("AXES_IP_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# (parameters, failure limit): portal/login_lockout.py applies each rule's own limit.
AXES_LOCKOUT_RULES = [
    (["username", "ip_address"], AXES_FAILURE_LIMIT),
    (["ip_address"], AXES_IP_FAILURE_LIMIT),
]
AXES_LOCKOUT_PARAMETERS = [parameters for parameters, _ in AXES_LOCKOUT_RULES]
AXES_HANDLER = "portal.login_lockout.LockoutPerRuleHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"

LANGUAGE_CODE = "en"
# A clinic's language sets its patients' page, email and SMS. Only languages with a catalogue in
# locale/ are offered (English is the source); add one with makemessages -l xx and compilemessages.
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = DATA_DIR / "media"

# Storage: files on disk by default; S3-compatible storage through django-storages
# when AWS_STORAGE_BUCKET_NAME is set (endpoint from AWS_S3_ENDPOINT_URL).
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studies"
LOGOUT_REDIRECT_URL = "login"

# Ingest limits: a single file, one upload request, and what a ZIP may expand to.
MAX_FILE_BYTES = env.int("MAX_FILE_BYTES", default=2 * 1024**3 // 4)  # 512 MiB per DICOM file
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=1024**3)  # 1 GiB per request
MAX_ZIP_ENTRIES = env.int("MAX_ZIP_ENTRIES", default=10_000)
MAX_ZIP_EXPANDED_BYTES = env.int("MAX_ZIP_EXPANDED_BYTES", default=2 * 1024**3)
# Uploads stream to temporary files above this size, so memory stays flat.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The limit handler goes first: it stops a multipart body past MAX_UPLOAD_BYTES before it is kept.
FILE_UPLOAD_HANDLERS = [
    "sharing.ingest.upload_limit.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=5000)
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport under
# DATA_DIR, so `make run` still has a real worker process with no server to install.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A task a killed worker held is redelivered after this; the stuck-share sweep usually acts first.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("BROKER_VISIBILITY_TIMEOUT", default=3600)}
    # Fail fast when Redis is down: the share stays queued in the database and the sweep sends it later.
    CELERY_BROKER_CONNECTION_TIMEOUT = 2
else:
    _broker_dir = DATA_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through Django's LOGGING, so its lines pass the same redacting filter as the web's.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# Rate limits (django-ratelimit, sharing/ratelimits.py) count in their own cache, which must
# increment atomically: Redis when REDIS_URL is set, shared by every web process. The embedded
# default uses process-local memory (the file cache's read-then-write increment loses counts under
# concurrency and scans its folder on every write), so each gunicorn worker counts on its own and a
# client gets up to WEB_CONCURRENCY times the limit there.
CACHES["ratelimit"] = (
    {
        "BACKEND": "portal.cache.FailOpenRedisCache", "LOCATION": REDIS_URL,
        # Short timeouts: with Redis down, a request waits half a second at most, then passes.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit"}
)
# Limits protect the portal and must not take it down: with the counter store unreachable,
# requests go through (portal/cache.py).
RATELIMIT_FAIL_OPEN = True
# Rendered patient pages, per web process (sharing/views/patient/pages.py landing_html).
CACHES["pages"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages",
                   "OPTIONS": {"MAX_ENTRIES": 2000}}
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_VIEW = "sharing.ratelimits.rate_limited"
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
# Per client IP and minute. A patient page with 20 images and clips loads ~100 assets (thumbnails,
# posters, ranged video requests), and clinics sit behind one NAT: 600/m leaves room for both.
RATELIMIT_LINK = env.str("RATELIMIT_LINK", default="600/m")
RATELIMIT_PASSCODE = env.str("RATELIMIT_PASSCODE", default="10/m")
RATELIMIT_API = env.str("RATELIMIT_API", default="1200/m")
# Behind a reverse proxy every request comes from the proxy: name the header it sets for the
# client address (e.g. HTTP_X_REAL_IP), and make sure the proxy overwrites it.
if env.str("RATELIMIT_IP_META_KEY", default=""):
    RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY")
# Wrong passcodes on one patient link (sharing/shares/lockout.py): this many from one client
# address lock that address out for 15 minutes; this many from all addresses lock the link.
PASSCODE_ADDRESS_ATTEMPTS = env.int("PASSCODE_ADDRESS_ATTEMPTS", default=5)
PASSCODE_LINK_ATTEMPTS = env.int("PASSCODE_LINK_ATTEMPTS", default=30)
SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit lists only django_redis; Django's own RedisCache increments with INCR too.
    "django_ratelimit.W001",
]
if not REDIS_URL:
    # The embedded default counts per process on purpose (see above).
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Email: one .eml file per message in DATA_DIR/outbox/email unless EMAIL_URL is set.
EMAIL_OUTBOX_DIR = DATA_DIR / "outbox" / "email"
SMS_OUTBOX_DIR = DATA_DIR / "outbox" / "sms"
WHATSAPP_OUTBOX_DIR = DATA_DIR / "outbox" / "whatsapp"
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
    # A mail server that accepts and then hangs must not hold a delivery (and its share row) forever.
    EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
else:
    EMAIL_BACKEND = "sharing.delivery.email_backends.EmlFileBackend"
    EMAIL_FILE_PATH = str(EMAIL_OUTBOX_DIR)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Patient Portal <no-reply@portal.invalid>")
# SMS: a dotted path to a backend class, or the short names "file", "locmem", "twilio".
SMS_BACKEND = env.str("SMS_BACKEND", default="file")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
# WhatsApp: the same short names ("file": DATA_DIR/outbox/whatsapp/, "locmem", "twilio"). Twilio
# sends from TWILIO_WHATSAPP_FROM (a WhatsApp-enabled number) and, when set, with the Meta-approved
# template TWILIO_WHATSAPP_CONTENT_SID (variables: 1 the clinic's name, 2 the link).
WHATSAPP_BACKEND = env.str("WHATSAPP_BACKEND", default="file")
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
TWILIO_WHATSAPP_CONTENT_SID = env.str("TWILIO_WHATSAPP_CONTENT_SID", default="")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "sharing.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Bounded JSON (size, depth: sharing/api/parsers.py); forms and multipart as DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "sharing.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# The largest JSON request body the API reads (a share of 10,000 instance ids is ~200 kB).
API_JSON_MAX_BYTES = env.int("API_JSON_MAX_BYTES", default=1024 * 1024)
# The API schema and its browsable docs map every endpoint and field: signed-in users only
# (portal/api_docs.py), unless API_DOCS_PUBLIC opens them, e.g. for a partner's developer portal.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Patient portal API",
    "DESCRIPTION": "Ingest exams, list studies, and share them with patients.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN: no third-party requests.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["portal.api_docs.SchemaAccess"],
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Pages load only our own scripts, styles, images and media; no inline script or style, no
# third-party origin, no framing. Templates use external files in static/portal/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# No page script reads the CSRF cookie (they take the token from a data attribute).
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe gunicorn over plain HTTP; the probes carry nothing private.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler redacts link tokens, credentials and contacts (portal/logging.py).
    "filters": {"redact": {"()": "portal.logging.RedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # pynetdicom logs every association's identifiers at DEBUG/INFO.
        "pynetdicom": {"level": "WARNING"},
        # With DEBUG, Django logs every SQL statement with its parameters: patient names and IDs.
        "django.db.backends": {"level": "INFO"},
    },
}

# /readyz writes a probe object to storage at most this often per process (portal/health.py).
READYZ_STORAGE_PROBE_SECONDS = env.float("READYZ_STORAGE_PROBE_SECONDS", default=10)

# The pipeline: a share queued or processing for longer than this is re-dispatched by the sweep.
SHARE_STUCK_AFTER_SECONDS = env.int("SHARE_STUCK_AFTER_SECONDS", default=300)
SHARE_SWEEP_INTERVAL_SECONDS = env.int("SHARE_SWEEP_INTERVAL_SECONDS", default=60)
# How long a pipeline run may go without progress before another run may take the share over.
SHARE_LEASE_SECONDS = env.int("SHARE_LEASE_SECONDS", default=600)
# A pipeline task that finds another run holding its share tries again after this.
SHARE_BUSY_RETRY_SECONDS = env.int("SHARE_BUSY_RETRY_SECONDS", default=15)
# A share found stuck this many times is marked failed (with the reason) instead of retried forever.
SHARE_MAX_SWEEPS = env.int("SHARE_MAX_SWEEPS", default=5)
DELIVERY_RETRY_BASE_SECONDS = env.int("DELIVERY_RETRY_BASE_SECONDS", default=5)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-shares": {"task": "sharing.sweep_stuck_shares", "schedule": SHARE_SWEEP_INTERVAL_SECONDS},
    # A worker proves it consumes the queue; /readyz reports the heartbeat's age.
    "worker-heartbeat": {"task": "sharing.heartbeat", "schedule": env.int("WORKER_HEARTBEAT_SECONDS", default=30)},
}
CELERY_TASK_ROUTES = {
    "sharing.prepare_share": {"queue": "render"},
    "sharing.deliver_share": {"queue": "deliver"},
}
