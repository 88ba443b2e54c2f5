from django.db import migrations, models

class Migration(migrations.Migration):
    atomic = True
    dependencies = [('shop','0017_add_fk')]
    operations = [
        migrations.RemoveField(model_name='purchase', name='parent'),
    ]
