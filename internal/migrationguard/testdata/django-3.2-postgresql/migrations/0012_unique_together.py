from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0011_add_index')]
    operations = [
        migrations.AlterUniqueTogether(name='purchase', unique_together={('ref', 'coupon')}),
    ]
