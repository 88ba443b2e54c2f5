from django.db import migrations, models

class Migration(migrations.Migration):
    atomic = False
    dependencies = [('shop','0018_remove_fk')]
    operations = [
        migrations.RunSQL('CREATE UNIQUE INDEX CONCURRENTLY shop_ref_uniq2 ON shop_purchase (ref)', reverse_sql=migrations.RunSQL.noop),
    ]
