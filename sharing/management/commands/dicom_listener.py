from django.conf import settings
from django.core.management.base import BaseCommand

from sharing.listener import serve


class Command(BaseCommand):
    help = "Run the DICOM C-STORE receiver (AE title PORTAL, port DICOM_PORT)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE)

    def handle(self, *args, host, port, ae_title, **options):
        self.stdout.write(f"DICOM listener: AE title {ae_title} on port {port}")
        try:
            serve(host=host, port=port, ae_title=ae_title, block=True)
        except KeyboardInterrupt:
            pass
