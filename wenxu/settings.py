"""Settings for wenxu, driven by WENXU_* environment variables.

With nothing set, wenxu runs embedded: SQLite under ./var, a secret key generated once and kept
in the data folder, DEBUG off. Unsafe production configurations are refused at start-up.
"""

import ipaddress
import os
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from wenxu.lib import crypto

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
# Keys the security log's hash chain (issue #9, docs/security-log.md): kept out of the database, so
# whoever can write to the database cannot rewrite the chain to hide an edit.
WENXU_AUDIT_KEY = _data_key("audit_key", "WENXU_AUDIT_KEY")

ALLOWED_HOSTS: list[str] = env.list("WENXU_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("WENXU_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "wenxu.core.views.csrf_failure"

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
    "axes",  # login lockout (issue #9, login)
    "django_otp",  # two-factor codes (issue #9, login)
    "django_otp.plugins.otp_totp",
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
    # First: before the session is read, a read-replica set-up decides where this request reads
    # (issue #10, ADR 0020).
    "wenxu.core.db_router.PinPrimaryMiddleware",
    # Opens the request's configuration generation: what pages keep between requests (ADR 0026).
    "wenxu.core.generation.GenerationMiddleware",
    # Names the request in every log line it causes (the proxy's X-Request-ID or a new one).
    "wenxu.lib.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise so static files get them too (issue #9, ADR 0018).
    "csp.middleware.CSPMiddleware",
    "wenxu.core.security_headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "wenxu.core.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # issue #9, login: which sessions passed a code
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Issue #9, login (ADR 0017): idle sign-out, then the steps a login still owes.
    "wenxu.accounts.middleware.IdleTimeoutMiddleware",
    "wenxu.accounts.middleware.LoginStepsMiddleware",
    "wenxu.api.idempotency.IdempotencyMiddleware",
    "wenxu.core.middleware.DomainErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: answers locked-out logins
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


# The rollup reads that wenxu.lib.planned.planned_rows prepares on PostgreSQL (ADR 0035): psycopg
# prepares only when a threshold is set (Django's own cursors bind on the client and never
# prepare, whatever it is), and their plans are generic, made once per connection.
PREPARED_STATEMENT_OPTIONS = {
    "prepare_threshold": 5,
    "options": "-c plan_cache_mode=force_generic_plan",
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
        # An unreachable server fails a request (and /healthz) in seconds, not minutes of TCP
        # retries; ?connect_timeout= in the URL overrides it.
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        if env.bool("WENXU_DB_PREPARED_STATEMENTS", default=True):
            options = config["OPTIONS"]
            given = options.get("options")  # ?options= in the URL: kept, ours added
            options.update(PREPARED_STATEMENT_OPTIONS)
            if given:
                options["options"] = f"{given} {PREPARED_STATEMENT_OPTIONS['options']}"
    else:
        raise ImproperlyConfigured(
            f"WENXU_DATABASE_URL: unsupported database {config['ENGINE']!r}; "
            "use sqlite:///path or postgres://user@host/db."
        )
    return {"default": config}


DATABASES = _databases()
# Read replicas (issue #10, ADR 0020, wenxu.core.db_router): PostgreSQL streaming replicas of the
# primary, comma-separated URLs. Reads go to them unless the request wrote, is in a transaction,
# or follows a write by less than WENXU_DATABASE_PIN_SECONDS (a cookie); commands and the worker
# read the primary. A bad URL, a non-PostgreSQL replica or a SQLite primary stops the start.
if TESTING:
    # One replica that is the primary's test database (Django's test mirror); the router reads
    # from it only in tests that turn replicas on (tests/test_replica_router.py): elsewhere a
    # test's own transaction, invisible to a second connection, would hide its data.
    DATABASES["replica1"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    WENXU_READ_REPLICAS: list[str] = []
else:
    from wenxu.core.db_router import replica_databases

    DATABASES.update(
        replica_databases(
            env.str("WENXU_DATABASE_REPLICA_URLS", default=""), primary=DATABASES["default"]
        )
    )
    WENXU_READ_REPLICAS = [alias for alias in DATABASES if alias != "default"]
DATABASE_ROUTERS = ["wenxu.core.db_router.ReplicaRouter"]
WENXU_DATABASE_PIN_SECONDS = env.int("WENXU_DATABASE_PIN_SECONDS", default=5)
if not 1 <= WENXU_DATABASE_PIN_SECONDS <= 300:
    raise ImproperlyConfigured("WENXU_DATABASE_PIN_SECONDS must be between 1 and 300.")

# Redis (issue #10, ADR 0020; docs/operations.md "Cache and rate limits"): with WENXU_REDIS_URL
# (redis://host:6379/0, rediss:// for TLS) Django's cache and the rate-limit counts
# (wenxu.lib.ratelimit: INCR + EXPIRE) live in Redis. Without it the cache is the table
# wenxu_cache (made by the `public` app's migration) and the counts are rows of core_ratecounter.
WENXU_REDIS_URL: str = env.str("WENXU_REDIS_URL", default="")
if WENXU_REDIS_URL and not WENXU_REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "WENXU_REDIS_URL must start with redis://, rediss:// or unix://, "
        "for example redis://127.0.0.1:6379/0."
    )
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": WENXU_REDIS_URL,
            "KEY_PREFIX": "wenxu",
            # A Redis that does not answer costs a request one second, not a hung worker.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if WENXU_REDIS_URL
        else {
            # Past MAX_ENTRIES the database cache deletes a third of its rows at once.
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "wenxu_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Length, character classes and history follow the WENXU_PASSWORD_* settings (issue #9).
    {"NAME": "wenxu.accounts.passwords.LengthValidator"},
    {"NAME": "wenxu.accounts.passwords.CharacterClassValidator"},
    {"NAME": "wenxu.accounts.passwords.PasswordHistoryValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Issue #9, login: axes refuses locked-out logins before the password is checked.
AUTHENTICATION_BACKENDS = [
    "wenxu.accounts.backends.LockoutBackend",
    # Django's ModelBackend, its permissions kept between requests (ADR 0026).
    "wenxu.accounts.backends.ModelBackendKeepingPermissions",
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

# Every handler masks mobile and ID numbers in messages, arguments and tracebacks (issue #9,
# wenxu.lib.logfilter; the PII block below adds the filter to handlers added here later).
# Django's own loggers lose their default handlers and pass their lines on to ours.
# WENXU_LOG_FORMAT=json (issue #10): one JSON object per line (time, level, logger, message,
# exception), for a log collector; `wenxu serve` then writes gunicorn's lines as JSON too.
WENXU_LOG_FORMAT: str = env.str("WENXU_LOG_FORMAT", default="text")
if WENXU_LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("WENXU_LOG_FORMAT must be 'text' or 'json'.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_personal_data": {"()": "wenxu.lib.logfilter.MaskPersonalData"},
        "request_id": {"()": "wenxu.lib.requestid.RequestIdFilter"},
    },
    "formatters": {"json": {"()": "wenxu.lib.jsonlog.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_personal_data"]}},
    "root": {"handlers": ["console"], "level": env.str("WENXU_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "INFO"},
    },
}
if WENXU_LOG_FORMAT == "json":
    for _handler in LOGGING["handlers"].values():
        _handler["formatter"] = "json"

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

# Security log (issue #9, audit; docs/security-log.md): `wenxu audit_prune` never deletes entries
# younger than this many days; 等保 asks for at least 180, so less is refused.
WENXU_AUDIT_KEEP_DAYS = env.int("WENXU_AUDIT_KEEP_DAYS", default=180)
if WENXU_AUDIT_KEEP_DAYS < 180:
    raise ImproperlyConfigured(
        "WENXU_AUDIT_KEEP_DAYS must be at least 180: security log entries are kept at least "
        "180 days."
    )

# Security headers, HTTPS and cookies (issue #9, ADR 0018, docs/operations.md "HTTPS and security
# headers"). WENXU_HTTPS: browsers reach wenxu over HTTPS, through a proxy that terminates TLS
# (`wenxu serve` speaks plain HTTP). It turns on, unless each is set otherwise: trusting the
# proxy's X-Forwarded-Proto, the redirect of plain HTTP to HTTPS, HSTS for one year and cookies
# sent over HTTPS only. Off (the embedded default, http://127.0.0.1:8000) none of them apply:
# browsers would drop secure cookies there and nobody could sign in.
WENXU_HTTPS = env.bool("WENXU_HTTPS", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("WENXU_BEHIND_HTTPS_PROXY", default=WENXU_HTTPS)
    else None
)
SECURE_SSL_REDIRECT = env.bool("WENXU_SSL_REDIRECT", default=WENXU_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the proxy's health check may come over plain HTTP
SECURE_HSTS_SECONDS = env.int("WENXU_HSTS_SECONDS", default=31_536_000 if WENXU_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("WENXU_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading binds the domain and all its subdomains to HTTPS in every browser for months:
# the operator's decision, not a default.
SECURE_HSTS_PRELOAD = env.bool("WENXU_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("WENXU_SECURE_COOKIES", default=WENXU_HTTPS)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# Readable by scripts on purpose: the offline outbox (visits/outbox-sync.js) takes the token from
# the cookie, since the page that queued a record may be older than the session that syncs it.
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
# Rating links (/r/<token>) and tracking pages must not leak their address to another site.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Field capture takes the location (navigator.geolocation) and photos (a file input with
# `capture`, which needs no camera permission, but a later live preview would); nothing else.
WENXU_PERMISSIONS_POLICY: dict[str, list[str]] = {
    "camera": ["self"],
    "geolocation": ["self"],
    "microphone": [],
    "payment": [],
    "usb": [],
    "accelerometer": [],
    "gyroscope": [],
    "magnetometer": [],
}
# django-csp 4: no inline scripts or styles anywhere (templates carry data in data-* attributes
# and json_script blocks; widths and heights come from classes in wenxu.css). Browsers report a
# violation in the console, and the browser tests fail on one (tests/browser/conftest.py).
_SELF, _NONE = "'self'", "'none'"
# A page that must carry a <style> element (the printed report's page header) marks it with
# nonce="{{ request.csp_nonce }}"; the nonce is in the header only on such pages.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [_SELF],
        "script-src": [_SELF],
        "style-src": [_SELF, NONCE],
        "img-src": [_SELF, "data:", "blob:"],  # Bootstrap's icons are data: URIs; photo previews
        "font-src": [_SELF],
        "connect-src": [_SELF],
        "worker-src": [_SELF],  # the offline capture's service worker, /sw.js
        "manifest-src": [_SELF],
        "object-src": [_NONE],
        "frame-ancestors": [_NONE],
        "form-action": [_SELF],
        "base-uri": [_SELF],
        "upgrade-insecure-requests": WENXU_HTTPS,
    }
}
# Warnings of `wenxu check` that are wrong for wenxu, each with its reason.
SILENCED_SYSTEM_CHECKS: list[str] = [
    # The ledger's partial indexes carry non-key columns on PostgreSQL only (ADR 0021); SQLite
    # builds them without, which is all the embedded default needs.
    "models.W040",
]
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")  # preload is opt-in (WENXU_HSTS_PRELOAD)

if SECURE_HSTS_PRELOAD and not (
    SECURE_HSTS_INCLUDE_SUBDOMAINS and SECURE_HSTS_SECONDS >= 31_536_000
):
    raise ImproperlyConfigured(
        "WENXU_HSTS_PRELOAD needs WENXU_HSTS_INCLUDE_SUBDOMAINS=true and WENXU_HSTS_SECONDS of at "
        "least 31536000 (one year): browsers' preload lists accept nothing less."
    )
if WENXU_HTTPS and WENXU_SITE_URL.startswith("http://"):
    raise ImproperlyConfigured(
        "WENXU_HTTPS is on but WENXU_SITE_URL starts with http://: set it to the https:// address "
        "residents open (the links in text messages use it)."
    )
# Personal data at rest (issue #9, PII; docs/operations.md "Personal data keys"). Requesters'
# phones and ID numbers are encrypted with AES-256-GCM: WENXU_PII_KEYS is "id:base64key,…", the
# first key encrypts, all decrypt (else the data-folder file pii_keys, made once). The blind
# index for exact search has its own HMAC key. A malformed key stops the start.
WENXU_PII_KEYS = crypto.load_key_ring(env.str("WENXU_PII_KEYS", default=""), DATA_DIR / "pii_keys")
WENXU_PII_INDEX_KEY = _data_key("pii_index_key", "WENXU_PII_INDEX_KEY")
for _handler in LOGGING["handlers"].values():
    if "mask_personal_data" not in _handler.setdefault("filters", []):
        _handler["filters"].append("mask_personal_data")
    if "request_id" not in _handler["filters"]:
        _handler["filters"].append("request_id")

# Retention, erasure and backups (issue #9, retention and backups; docs/operations.md).
# Requesters are anonymised RETENTION_DAYS after their last need settled (0: kept for ever; at
# least the reopen window otherwise). Erasures on request are journalled outside the database,
# so that a restore can re-apply them; backups go to WENXU_BACKUP_DIR.
WENXU_RETENTION_DAYS = env.int("WENXU_RETENTION_DAYS", default=1095)
if WENXU_RETENTION_DAYS < 0 or 0 < WENXU_RETENTION_DAYS < WENXU_REOPEN_WINDOW_DAYS:
    raise ImproperlyConfigured(
        "WENXU_RETENTION_DAYS must be 0 (keep for ever) or at least WENXU_REOPEN_WINDOW_DAYS "
        f"({WENXU_REOPEN_WINDOW_DAYS}): a need that may still be reopened keeps its requester."
    )
WENXU_ERASURE_JOURNAL = Path(
    env.str("WENXU_ERASURE_JOURNAL", default=str(DATA_DIR / "erasures.jsonl"))
).resolve()
WENXU_BACKUP_DIR = Path(env.str("WENXU_BACKUP_DIR", default=str(DATA_DIR / "backups"))).resolve()

# Login security (issue #9, login; ADR 0017, docs/operations.md "Login security"). Defaults meet
# 等保 2.0: lockout after 5 failures, passwords of 8+ characters in 3 classes not reused within
# 5 changes, sign-out after 30 idle minutes. Level 3 (等保三级) asks admins and leaders for a
# TOTP code after the password. WENXU_DEMO is set by `wenxu demo` itself: the demo's accounts
# then keep their printed password instead of being made to change it.
WENXU_SECURITY_LEVEL = env.int("WENXU_SECURITY_LEVEL", default=2)
WENXU_LOGIN_FAILURE_LIMIT = env.int("WENXU_LOGIN_FAILURE_LIMIT", default=5)
WENXU_LOGIN_LOCKOUT_MINUTES = env.int("WENXU_LOGIN_LOCKOUT_MINUTES", default=15)
WENXU_PASSWORD_MIN_LENGTH = env.int("WENXU_PASSWORD_MIN_LENGTH", default=8)
WENXU_PASSWORD_CLASSES = env.int("WENXU_PASSWORD_CLASSES", default=3)
WENXU_PASSWORD_HISTORY = env.int("WENXU_PASSWORD_HISTORY", default=5)
WENXU_SESSION_IDLE_MINUTES = env.int("WENXU_SESSION_IDLE_MINUTES", default=30)
WENXU_DEMO = env.bool("WENXU_DEMO", default=False)
# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks; none by default,
# not even 127.0.0.1): the lockout and the security log then see the client (wenxu.lib.clientip).
WENXU_TRUSTED_PROXIES: list[str] = env.list("WENXU_TRUSTED_PROXIES", default=[])
for _proxy in WENXU_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(
            f"WENXU_TRUSTED_PROXIES: {_proxy!r} is not an address or a CIDR network."
        ) from _error
for _name, _low, _high in (
    ("WENXU_SECURITY_LEVEL", 2, 3),
    ("WENXU_LOGIN_FAILURE_LIMIT", 1, 100),
    ("WENXU_LOGIN_LOCKOUT_MINUTES", 1, 1440),
    ("WENXU_PASSWORD_MIN_LENGTH", 1, 128),
    ("WENXU_PASSWORD_CLASSES", 1, 4),
    ("WENXU_PASSWORD_HISTORY", 0, 24),
    ("WENXU_SESSION_IDLE_MINUTES", 1, 1440),
):
    if not _low <= globals()[_name] <= _high:
        raise ImproperlyConfigured(f"{_name} must be between {_low} and {_high}.")
# django-axes (wenxu.accounts.lockout): one (username, address) pair is locked after the limit
# of failures, each within the lockout time of the previous, for the lockout time; attempts while
# locked do not extend it. The security log records logins, so axes keeps no access log.
AXES_ENABLED = True
AXES_FAILURE_LIMIT = WENXU_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=WENXU_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = False  # failures are forgotten once the whole login (and code) is done
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "wenxu.accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "wenxu.accounts.lockout.client_ip"
AXES_USERNAME_CALLABLE = "wenxu.accounts.lockout.lockout_username"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no banner at every start; usernames and addresses stay out of logs
# django-otp: the name authenticator apps show. Its own back-off per device stays on (the default
# OTP_TOTP_THROTTLE_FACTOR of 1 s, doubled by each wrong code); wrong codes also count towards the
# lockout above, and 10 of one user within the lockout time lock that user's code step from every
# address (wenxu.accounts.security.OTP_USER_FAILURE_LIMIT).
OTP_TOTP_ISSUER = "问需"
# The admin may delete a lost phone's device, never read its key or QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# The session cookie ends with the browser; the idle timeout ends it on the server.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Django's database sessions, their per-request read in plain SQL (wenxu.accounts.sessions).
SESSION_ENGINE = "wenxu.accounts.sessions"

if not DEBUG and not TESTING and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("WENXU_ALLOWED_HOSTS='*' is refused outside debug mode.")
