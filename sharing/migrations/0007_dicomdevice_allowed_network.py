import sharing.models.clinics
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sharing", "0006_passcode_attempts_per_client"),
    ]

    operations = [
        migrations.AddField(
            model_name="dicomdevice",
            name="allowed_network",
            field=models.CharField(
                blank=True,
                help_text="Optional. Addresses this device sends from, in CIDR notation (10.1.2.0/24, 10.1.2.7/32). Stores from any other address are refused.",
                max_length=64,
                validators=[sharing.models.clinics.validate_network],
                verbose_name="allowed source network",
            ),
        ),
    ]
