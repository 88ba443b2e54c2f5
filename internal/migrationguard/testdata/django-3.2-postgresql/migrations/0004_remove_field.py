from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0003_add_field_nullable')]
    operations = [
        migrations.RemoveField(model_name='order', name='legacy'),
    ]
