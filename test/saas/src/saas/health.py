"""GET /api/v1/health/: 200 when every dependency answers, 503 naming what failed."""
import redis
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from saas import fields


def check_database():
    with connection.cursor() as cur:
        cur.execute("SELECT 1")


def models():
    from accounts.models import User
    from organizations.models import Organization
    from subscriptions.models import Subscription

    return [User, Organization, Subscription]


def check_schema():
    # Selects every column this version's code knows from each table: fails when the
    # migrations this code needs are not applied (or the code has a field without one).
    qn = connection.ops.quote_name
    with connection.cursor() as cur:
        for model in models():
            cols = ", ".join(qn(f.column) for f in model._meta.concrete_fields)
            cur.execute(f"SELECT {cols} FROM {qn(model._meta.db_table)} LIMIT 1")


def check_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def check_encryption():
    # The keys parse, and the oldest and newest stored values decrypt with them.
    mf = fields.multifernet()
    with connection.cursor() as cur:
        for order in ("", "DESC"):
            cur.execute(f"SELECT id, tax_id FROM organizations_organization WHERE tax_id <> '' ORDER BY id {order} LIMIT 1")
            row = cur.fetchone()
            if row:
                try:
                    mf.decrypt(row[1].encode())
                except InvalidToken:
                    raise InvalidToken(
                        f"no key of FIELD_ENCRYPTION_KEY decrypts organizations_organization.tax_id of id {row[0]}"
                    ) from None


CHECKS = [
    ("database", check_database),
    ("schema", check_schema),
    ("redis", check_redis),
    ("encryption", check_encryption),
]


def health(request):
    checks, failed = {}, []
    for name, check in CHECKS:
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # every failure is reported, none raised
            first = (str(exc).strip().splitlines() or [""])[0]
            checks[name] = f"{type(exc).__name__}: {first}".rstrip(": ")
            failed.append(name)
            if name == "database":
                connection.close()
    body = {
        "status": "ok" if not failed else "error",
        "version": settings.VERSION,
        "checks": checks,
    }
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=200 if not failed else 503)
