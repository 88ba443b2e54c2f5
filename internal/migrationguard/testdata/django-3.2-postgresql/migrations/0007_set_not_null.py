from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0006_alter_type')]
    operations = [
        migrations.AlterField(model_name='order', name='comment', field=models.TextField()),
    ]
