"""python manage.py seed: organizations, their users and subscriptions, as a database
that has been in production for a few years would hold."""
import datetime

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from organizations.models import Organization
from subscriptions.models import Subscription

PLANS = ["starter", "team", "business", "enterprise"]
# Of every 10 subscriptions: 6 active, 1 trialing, 1 past due, 2 canceled.
STATUSES = ["active"] * 6 + ["trialing", "past_due", "canceled", "canceled"]


class Command(BaseCommand):
    help = "Adds organizations, users and subscriptions (idempotent per slug prefix)."

    def add_arguments(self, parser):
        parser.add_argument("--organizations", type=int, default=1000)
        parser.add_argument("--users-per-organization", type=int, default=5)
        parser.add_argument("--prefix", default="org")

    @transaction.atomic
    def handle(self, *args, **opts):
        n, per, prefix = opts["organizations"], opts["users_per_organization"], opts["prefix"]
        if Organization.objects.filter(slug__startswith=f"{prefix}-").exists():
            self.stdout.write(f"organizations {prefix}-* exist already: nothing added")
            return
        now = timezone.now()
        orgs = Organization.objects.bulk_create(
            Organization(
                name=f"Organization {i}",
                slug=f"{prefix}-{i}",
                tax_id=f"DE{100000000 + i}",
                # Spread over four years, oldest first.
                created_at=now - datetime.timedelta(days=4 * 365 * (n - i) / n),
            )
            for i in range(n)
        )
        password = make_password(None)  # unusable: these users sign in through SSO
        User.objects.bulk_create(
            User(
                username=f"{o.slug}-user{j}",
                email=f"user{j}@{o.slug}.example",
                password=password,
                organization=o,
                date_joined=o.created_at,
            )
            for o in orgs
            for j in range(per)
        )
        Subscription.objects.bulk_create(
            Subscription(
                organization=o,
                plan=PLANS[i % len(PLANS)],
                status=STATUSES[i % len(STATUSES)],
                current_period_end=now + datetime.timedelta(days=1 + i % 30),
                created_at=o.created_at,
            )
            for i, o in enumerate(orgs)
        )
        self.stdout.write(
            f"added {len(orgs)} organizations, {len(orgs) * per} users, {len(orgs)} subscriptions"
        )
