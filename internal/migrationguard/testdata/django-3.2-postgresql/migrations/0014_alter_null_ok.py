from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0013_runsql_drop')]
    operations = [
        migrations.AlterField(model_name='purchase', name='coupon', field=models.CharField(max_length=40, null=True)),
    ]
