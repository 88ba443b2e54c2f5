from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = []
    operations = [
        migrations.CreateModel(name='Order', fields=[('id', models.BigAutoField(primary_key=True)), ('ref', models.CharField(max_length=20)), ('note', models.TextField(null=True)), ('qty', models.IntegerField(default=1)), ('legacy', models.CharField(max_length=10, null=True))]),
        migrations.CreateModel(name='Old', fields=[('id', models.BigAutoField(primary_key=True))]),
    ]
