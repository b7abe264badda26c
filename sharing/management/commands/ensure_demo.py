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
        # A clinic member, not an administrator: demo/demo is a published password, and whoever can
        # reach the demo could otherwise edit every clinic, device and user in the admin.
        user, created = User.objects.get_or_create(username="demo", defaults={"is_staff": False, "is_superuser": False})
        if created:
            user.set_password("demo")
            user.save()
        elif user.is_superuser or user.is_staff:
            # Demo data made by an earlier version had demo as a superuser.
            user.is_superuser = user.is_staff = False
            user.save(update_fields=["is_superuser", "is_staff"])
        Membership.objects.get_or_create(user=user, clinic=clinic)
        self.stdout.write(f"Demo clinic '{clinic.name}' and staff user demo/demo are ready.")
