from django.db import migrations, models

class Migration(migrations.Migration):
    atomic = True
    dependencies = [('shop','0016_not_null_with_default')]
    operations = [
        migrations.AddField(model_name='purchase', name='parent', field=models.ForeignKey(null=True, on_delete=models.CASCADE, to='shop.purchase')),
    ]
