"""Settings for wenxu, driven by WENXU_* environment variables.

With nothing set, wenxu runs embedded: SQLite under ./var, a secret key generated once and kept
in the data folder, DEBUG off. Unsafe production configurations are refused at start-up.
"""

import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# Lets admin and queryset classes be subscripted at run time (`admin.ModelAdmin[Need]`).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent

env = environ.Env()

DATA_DIR = Path(env.str("WENXU_DATA_DIR", default="var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("WENXU_DEBUG", default=False)
TESTING = env.bool("WENXU_TESTING", default=False)


def _data_key(name: str, env_var: str, *, minimum: int = 32) -> str:
    """A secret from `env_var`, else from the file `name` in the data folder (made once).

    Used for the secret key, the audit log's chain key and the personal-data key: the embedded
    default needs nothing configured, and a deployment may give each from its secret store.
    """
    configured: str = env.str(env_var, default="")
    if configured:
        if len(configured) < minimum:
            raise ImproperlyConfigured(f"{env_var} must be at least {minimum} characters long.")
        return configured
    key_file = DATA_DIR / name
    try:
        # Created private (never readable by others, not even for a moment) and only if absent:
        # of two processes starting at once, one writes the key and the other reads it.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(key_file, env_var)
    key = secrets.token_urlsafe(50)
    try:
        with os.fdopen(fd, "w") as fp:
            fp.write(key)
            fp.flush()
            os.fsync(fp.fileno())
    except BaseException:
        key_file.unlink(missing_ok=True)  # an empty key file would stop every later start
        raise
    return key


def _read_key_file(key_file: Path, env_var: str, wait: float = 5.0) -> str:
    """The key in `key_file`, waiting a little for a process that has just created it."""
    deadline = time.monotonic() + wait
    while not (key := key_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not key:
        raise ImproperlyConfigured(
            f"The key file {key_file} is empty: delete it to have a new key generated "
            f"(only when nothing was protected with it yet), or set {env_var}."
        )
    return key


SECRET_KEY = _data_key("secret_key", "WENXU_SECRET_KEY")
# Keys the security log's hash chain (issue #9, docs/security.md): kept out of the database, so
# whoever can write to the database cannot rewrite the chain to hide an edit.
WENXU_AUDIT_KEY = _data_key("audit_key", "WENXU_AUDIT_KEY")

ALLOWED_HOSTS: list[str] = env.list("WENXU_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("WENXU_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "ninja",  # serves the API docs' Swagger UI from its own static files, not a CDN
    "wenxu.core",
    "wenxu.accounts",
    "wenxu.organisations",
    "wenxu.residents",
    "wenxu.needs",
    "wenxu.visits",
    "wenxu.public",
    "wenxu.notify",
    "wenxu.exchange",
    "wenxu.insight",
    "wenxu.topics",
    "wenxu.integrations",
    "wenxu.audit",
    "wenxu.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "wenxu.core.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "wenxu.api.idempotency.IdempotencyMiddleware",
    "wenxu.core.middleware.DomainErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wenxu.urls"
WSGI_APPLICATION = "wenxu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wenxu.core.context_processors.navigation",
            ],
        },
    },
]


# IMMEDIATE: writers take the lock at BEGIN, so two writers never deadlock on upgrade; WAL lets
# readers go on while one writes; the busy timeout makes a writer wait rather than fail.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": (
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=NORMAL;"
        "PRAGMA foreign_keys=ON;"
        "PRAGMA busy_timeout=20000;"
    ),
}


def _databases() -> dict[str, Any]:
    url: str = env.str("WENXU_DATABASE_URL", default="")
    if TESTING and env.str("WENXU_TEST_DATABASE_URL", default=""):
        url = env.str("WENXU_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{DATA_DIR / 'wenxu.sqlite3'}"
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
        # A file per test process: the live server's threads then use their own connections,
        # as in production (in-memory SQLite shares one connection across threads).
        config["TEST"] = {"NAME": Path(tempfile.gettempdir()) / f"wenxu-test-{os.getpid()}.sqlite3"}
    elif config["ENGINE"] in {
        "django.db.backends.postgresql",
        "django.db.backends.postgresql_psycopg2",
    }:
        config["ENGINE"] = "django.db.backends.postgresql"
        config["CONN_MAX_AGE"] = env.int("WENXU_DB_CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
    else:
        raise ImproperlyConfigured(
            f"WENXU_DATABASE_URL: unsupported database {config['ENGINE']!r}; "
            "use sqlite:///path or postgres://user@host/db."
        )
    return {"default": config}


DATABASES = _databases()

# Shared by every web process (the online form's area index): a table in the database, made by
# the `public` app's migration. Rate limits do not use it (wenxu.lib.ratelimit counts in
# core_ratecounter). Past MAX_ENTRIES the database cache deletes a third of its rows at once.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "wenxu_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = DATA_DIR / "media"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True

TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if TESTING
            else "django_tasks_db.DatabaseBackend"
        )
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("WENXU_BEHIND_HTTPS_PROXY", False) else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("WENXU_SECURE_COOKIES", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("WENXU_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Domain settings (DESIGN §3, §4).
WENXU_TRIAGE_HOURS = env.int("WENXU_TRIAGE_HOURS", default=24)
WENXU_REOPEN_WINDOW_DAYS = env.int("WENXU_REOPEN_WINDOW_DAYS", default=30)
WENXU_CALLBACK_WINDOW_DAYS = env.int("WENXU_CALLBACK_WINDOW_DAYS", default=10)
WENXU_API_TOKEN_DAYS = env.int("WENXU_API_TOKEN_DAYS", default=30)

# Closing the loop with residents (issue #5, docs/operations.md "Messages").
# The address residents open links at (text messages carry /track and /r/… links).
WENXU_SITE_URL: str = env.str("WENXU_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Text messages: "console" writes them (masked) to the log; "http" posts them to a provider.
WENXU_SMS_BACKEND: str = env.str("WENXU_SMS_BACKEND", default="console")
WENXU_SMS_URL: str = env.str("WENXU_SMS_URL", default="")
WENXU_SMS_TOKEN: str = env.str("WENXU_SMS_TOKEN", default="")
WENXU_SMS_SIGNATURE: str = env.str("WENXU_SMS_SIGNATURE", default="【问需】")
if WENXU_SMS_BACKEND not in {"console", "http"}:
    raise ImproperlyConfigured("WENXU_SMS_BACKEND must be 'console' or 'http'.")
if WENXU_SMS_BACKEND == "http" and not WENXU_SMS_URL:
    raise ImproperlyConfigured("WENXU_SMS_BACKEND=http needs WENXU_SMS_URL.")
# E-mail to staff, e.g. smtp+tls://user:password@smtp.example.com:587 ; default: the log.
vars().update(env.email_url("WENXU_EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("WENXU_EMAIL_FROM", default="wenxu@localhost")
# Sending: attempts before a message is given up, and the HTTP timeout of every channel.
WENXU_OUTBOX_MAX_ATTEMPTS = env.int("WENXU_OUTBOX_MAX_ATTEMPTS", default=6)
WENXU_OUTBOX_TIMEOUT_SECONDS = env.float("WENXU_OUTBOX_TIMEOUT_SECONDS", default=10.0)
# A rating link (/r/…) works once and expires after this many days.
WENXU_RATING_LINK_DAYS = env.int("WENXU_RATING_LINK_DAYS", default=10)
# Days after a reply without the resident's rating before the callback request is sent again.
WENXU_CALLBACK_REQUEST_DAYS = env.int("WENXU_CALLBACK_REQUEST_DAYS", default=3)
# Hours a need stays overdue before its 督办 escalates one level up the area tree.
WENXU_ESCALATE_AFTER_HOURS = env.int("WENXU_ESCALATE_AFTER_HOURS", default=48)
# Local hour (Asia/Shanghai) after which each unit's daily digest goes out.
WENXU_DIGEST_HOUR = env.int("WENXU_DIGEST_HOUR", default=8)
# How often the worker runs the sweep, in seconds.
WENXU_SWEEP_SECONDS = env.int("WENXU_SWEEP_SECONDS", default=60)
# The three rates (docs/measures.md): the weight of "partly resolved" in the resolution rate and
# the satisfaction levels the satisfaction rate counts.
WENXU_RATES_PARTLY_WEIGHT = env.float("WENXU_RATES_PARTLY_WEIGHT", default=0.5)
WENXU_RATES_SATISFIED_LEVELS: list[str] = env.list(
    "WENXU_RATES_SATISFIED_LEVELS", default=["very_satisfied", "satisfied", "basic"]
)
if not 0 <= WENXU_RATES_PARTLY_WEIGHT <= 1:
    raise ImproperlyConfigured("WENXU_RATES_PARTLY_WEIGHT must be between 0 and 1.")
_LEVELS = {"very_satisfied", "satisfied", "basic", "dissatisfied", "very_dissatisfied"}
if not WENXU_RATES_SATISFIED_LEVELS or set(WENXU_RATES_SATISFIED_LEVELS) - _LEVELS:
    raise ImproperlyConfigured(
        "WENXU_RATES_SATISFIED_LEVELS: a comma-separated subset of " + ", ".join(sorted(_LEVELS))
    )
# 举一反三 (issue #7, docs/insight.md). Similar needs: closed needs stay candidates this long.
WENXU_SIMILAR_RECENT_DAYS = env.int("WENXU_SIMILAR_RECENT_DAYS", default=180)
# Hot topics: the default window, and how often the worker recomputes them.
WENXU_HOT_TOPICS_DAYS = env.int("WENXU_HOT_TOPICS_DAYS", default=30)
WENXU_HOT_TOPICS_EVERY_HOURS = env.int("WENXU_HOT_TOPICS_EVERY_HOURS", default=6)
# Routing suggestions below this confidence are shown as uncertain.
WENXU_ROUTER_MIN_CONFIDENCE = env.float("WENXU_ROUTER_MIN_CONFIDENCE", default=0.5)
# Early signals (未诉先办): the period compared, the weeks of baseline before it, and the fewest
# needs in the period that can make a signal.
WENXU_SIGNALS_DAYS = env.int("WENXU_SIGNALS_DAYS", default=7)
WENXU_SIGNALS_BASELINE_WEEKS = env.int("WENXU_SIGNALS_BASELINE_WEEKS", default=8)
WENXU_SIGNALS_MIN_COUNT = env.int("WENXU_SIGNALS_MIN_COUNT", default=3)
for _name in (
    "WENXU_SIMILAR_RECENT_DAYS",
    "WENXU_HOT_TOPICS_DAYS",
    "WENXU_HOT_TOPICS_EVERY_HOURS",
    "WENXU_SIGNALS_DAYS",
    "WENXU_SIGNALS_BASELINE_WEEKS",
    "WENXU_SIGNALS_MIN_COUNT",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
if not 0 <= WENXU_ROUTER_MIN_CONFIDENCE <= 1:
    raise ImproperlyConfigured("WENXU_ROUTER_MIN_CONFIDENCE must be between 0 and 1.")
# How long the API keeps the answers to requests sent with an Idempotency-Key.
WENXU_IDEMPOTENCY_HOURS = env.int("WENXU_IDEMPOTENCY_HOURS", default=24)
if WENXU_IDEMPOTENCY_HOURS < 1:
    raise ImproperlyConfigured("WENXU_IDEMPOTENCY_HOURS must be at least 1.")
# Open311 GeoReport v2 (docs/api/open311.md): the jurisdiction_id this server answers to (empty:
# any), and the default window and the most requests one GET /requests returns.
WENXU_OPEN311_JURISDICTION = env.str("WENXU_OPEN311_JURISDICTION", default="")
WENXU_OPEN311_DEFAULT_DAYS = env.int("WENXU_OPEN311_DEFAULT_DAYS", default=90)
WENXU_OPEN311_MAX_REQUESTS = env.int("WENXU_OPEN311_MAX_REQUESTS", default=1000)
# Webhooks (docs/api/webhooks.md): the timeout of one delivery, the attempts before a delivery
# fails, the consecutive failed deliveries before a subscription is switched off, and whether
# targets on private or loopback addresses are allowed (off unless set; tests turn it on).
WENXU_WEBHOOK_TIMEOUT = env.int("WENXU_WEBHOOK_TIMEOUT", default=10)
WENXU_WEBHOOK_MAX_ATTEMPTS = env.int("WENXU_WEBHOOK_MAX_ATTEMPTS", default=8)
WENXU_WEBHOOK_DISABLE_AFTER = env.int("WENXU_WEBHOOK_DISABLE_AFTER", default=5)
WENXU_WEBHOOK_ALLOW_PRIVATE = env.bool("WENXU_WEBHOOK_ALLOW_PRIVATE", default=False)
for _name in (
    "WENXU_OPEN311_DEFAULT_DAYS",
    "WENXU_OPEN311_MAX_REQUESTS",
    "WENXU_WEBHOOK_TIMEOUT",
    "WENXU_WEBHOOK_MAX_ATTEMPTS",
    "WENXU_WEBHOOK_DISABLE_AFTER",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
# Resident pages that a deployment turns on: online submission and the public 回音墙.
WENXU_PUBLIC_SUBMIT = env.bool("WENXU_PUBLIC_SUBMIT", default=False)
WENXU_PUBLIC_WALL = env.bool("WENXU_PUBLIC_WALL", default=False)

if not DEBUG and not TESTING and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("WENXU_ALLOWED_HOSTS='*' is refused outside debug mode.")
