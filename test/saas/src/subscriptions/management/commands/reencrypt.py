"""python manage.py reencrypt: re-encrypts every encrypted value with the newest key
of FIELD_ENCRYPTION_KEY (MultiFernet.rotate), after which older keys can be dropped."""
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from saas import fields


class Command(BaseCommand):
    help = "Re-encrypts organizations_organization.tax_id with the newest Fernet key."

    @transaction.atomic
    def handle(self, *args, **opts):
        mf = fields.multifernet()
        n = 0
        with connection.cursor() as cur:
            cur.execute("SELECT id, tax_id FROM organizations_organization WHERE tax_id <> '' FOR UPDATE")
            rows = cur.fetchall()
            for pk, token in rows:
                cur.execute(
                    "UPDATE organizations_organization SET tax_id = %s WHERE id = %s",
                    [mf.rotate(token.encode()).decode(), pk],
                )
                n += 1
        self.stdout.write(f"re-encrypted {n} values with the newest key")
