from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0014_alter_null_ok')]
    operations = [
        migrations.AddConstraint(model_name='purchase', constraint=models.UniqueConstraint(fields=['comment'], name='shop_comment_uniq')),
    ]
