from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from sharing.models import Clinic, Membership


class Command(BaseCommand):
    help = "Create the demo clinic and the staff user demo/demo (embedded default only)."

    @transaction.atomic
    def handle(self, *args, **options):
        clinic, _ = Clinic.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo Ultrasound Clinic",
                "message": "Here are the images and clips from your ultrasound. Congratulations!",
                "accept_unknown_devices": True,
            },
        )
        User = get_user_model()
        user, created = User.objects.get_or_create(username="demo", defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password("demo")
            user.save()
        Membership.objects.get_or_create(user=user, clinic=clinic)
        self.stdout.write(f"Demo clinic '{clinic.name}' and staff user demo/demo are ready.")
