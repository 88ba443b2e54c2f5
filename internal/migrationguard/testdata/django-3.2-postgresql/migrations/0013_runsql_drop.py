from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0012_unique_together')]
    operations = [
        migrations.RunSQL('ALTER TABLE shop_purchase DROP COLUMN seats', reverse_sql=migrations.RunSQL.noop),
    ]
