from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0002_add_field_default')]
    operations = [
        migrations.AddField(model_name='order', name='coupon', field=models.CharField(max_length=20, null=True)),
    ]
