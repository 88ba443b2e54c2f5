from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0008_unique_index')]
    operations = [
        migrations.DeleteModel(name='Old'),
    ]
