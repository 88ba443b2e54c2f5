"""Settings of the runbook's SaaS, all from the environment (see test/saas/README.md)."""
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = (BASE_DIR / "VERSION").read_text().strip()


def env_list(name):
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set (see test/saas/README.md)")
# Django 4.1+ accepts signatures made with these; Django 3.2 (Debian bookworm) ignores
# the setting: after a rotation, sessions signed with the previous key are invalid.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
# Comma list of Fernet keys, newest first: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY")

DEBUG = os.environ.get("DJANGO_DEBUG", "") in ("1", "true", "True")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS") or ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_prometheus",
    "accounts",
    "organizations",
    "subscriptions",
]
# django-prometheus (Debian's python3-django-prometheus) counts every request and
# response by view, method and status, served at /metrics: what a Release's
# verify.prometheus queries read (e.g. the share of 5xx of one revision's pods).
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# Not the count of unapplied migrations: django-prometheus would read it from the
# database in every process's start (manage.py commands, Celery), which then fail
# while the database is unreachable.
PROMETHEUS_EXPORT_MIGRATIONS = False
ROOT_URLCONF = "saas.urls"
WSGI_APPLICATION = "saas.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Sessions live in a cookie signed with SECRET_KEY: no table, and whether a session
# survives a key rotation depends on the signing keys only.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True


def database_from_env():
    url = os.environ.get("DATABASE_URL")
    if url:
        u = urlparse(url)
        if u.scheme not in ("postgres", "postgresql"):
            raise ImproperlyConfigured(f"DATABASE_URL: scheme {u.scheme!r} is not postgres")
        return {
            "NAME": unquote(u.path.lstrip("/")),
            "USER": unquote(u.username or ""),
            "PASSWORD": unquote(u.password or ""),
            "HOST": u.hostname or "",
            "PORT": str(u.port or ""),
        }
    return {
        "NAME": os.environ.get("PGDATABASE", "saas_production"),
        "USER": os.environ.get("PGUSER", ""),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
    }


DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        **database_from_env(),
        "OPTIONS": {"connect_timeout": 3},
    }
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_CONCURRENCY = int(os.environ.get("CELERY_CONCURRENCY", "1"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = os.path.join(tempfile.gettempdir(), "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-subscriptions": {
        "task": "subscriptions.tasks.expire_subscriptions",
        "schedule": float(os.environ.get("EXPIRE_SUBSCRIPTIONS_EVERY", "60")),
    },
}

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
