from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0005_rename_field')]
    operations = [
        migrations.AlterField(model_name='order', name='qty', field=models.BigIntegerField(default=1)),
    ]
