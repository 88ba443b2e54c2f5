from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0004_remove_field')]
    operations = [
        migrations.RenameField(model_name='order', old_name='note', new_name='comment'),
    ]
