from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [('shop','0010_rename_model')]
    operations = [
        migrations.AddIndex(model_name='purchase', index=models.Index(fields=['coupon'], name='shop_coupon_idx')),
    ]
