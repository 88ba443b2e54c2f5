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
    # 1.1.0: seats bought, 1 for the subscriptions that existed before.
    seats = models.PositiveIntegerField(default=1)
    # 1.2.0: the field was added without its migration (makemigrations forgotten):
    # migrate has nothing to do, and every query of the table fails.
    renewal_reminder_sent = models.BooleanField(default=False)
