from django.db import migrations, models

class Migration(migrations.Migration):
    atomic = True
    dependencies = [('shop','0015_unique_constraint')]
    operations = [
        migrations.AlterField(model_name='purchase', name='coupon', field=models.CharField(max_length=40, default='')),
    ]
