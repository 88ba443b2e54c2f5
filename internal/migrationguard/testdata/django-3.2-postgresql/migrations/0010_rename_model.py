from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0009_delete_model')]
    operations = [
        migrations.RenameModel(old_name='Order', new_name='Purchase'),
    ]
