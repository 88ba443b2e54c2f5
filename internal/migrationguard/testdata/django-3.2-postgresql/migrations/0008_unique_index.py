from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0007_set_not_null')]
    operations = [
        migrations.AlterField(model_name='order', name='ref', field=models.CharField(max_length=20, unique=True)),
    ]
