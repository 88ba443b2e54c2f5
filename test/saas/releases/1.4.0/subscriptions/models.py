from django.db import models


class Subscription(models.Model):
    """An organization's plan (table subscriptions_subscription)."""

    ACTIVE, TRIALING, PAST_DUE, CANCELED, EXPIRED = "active", "trialing", "past_due", "canceled", "expired"
    STATUSES = [(s, s) for s in (ACTIVE, TRIALING, PAST_DUE, CANCELED, EXPIRED)]

    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=STATUSES, default=ACTIVE, db_index=True)
    current_period_end = models.DateTimeField()
    created_at = models.DateTimeField()
    # 1.4.0: seats are gone (migration 0003 drops the column 1.1.0 still reads), a
    # destructive change the Release's migration guard reports before migrating.
