# 1.3.0: adds the currency column, then fills it from a column that exists only on the
# developer's database. The UPDATE fails; the migration is atomic (PostgreSQL runs it
# in one transaction), so Django rolls the new column back and records nothing.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('subscriptions', '0002_subscription_seats'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='currency',
            field=models.CharField(default='usd', max_length=3),
        ),
        migrations.RunSQL(
            "UPDATE subscriptions_subscription SET currency = lower(plan_currency)",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
