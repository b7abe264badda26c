import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from sharing.ingest.sources import temp_dir
from sharing.listener import serve


def receive_dir() -> Path:
    """Where pynetdicom streams incoming objects: the ingest temp folder's filesystem, so moving a
    received file into ingest is a rename, and a private folder, so stale files can be swept."""
    path = temp_dir() / "dicom-receive"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def sweep_stale_receipts(folder: Path) -> int:
    """Remove objects a killed listener left half-received. A live transfer writes its file at least
    every DICOM_NETWORK_TIMEOUT seconds (or its association is dropped), so older files are dead."""
    cutoff = time.time() - 2 * settings.DICOM_NETWORK_TIMEOUT
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


class Command(BaseCommand):
    help = "Run the DICOM C-STORE receiver (AE title PORTAL, port DICOM_PORT, and DICOM_TLS_PORT with TLS)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.DICOM_BIND,
                            help="address to listen on (DICOM_BIND, default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)
        parser.add_argument("--tls-port", type=int, default=settings.DICOM_TLS_PORT)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE)

    def handle(self, *args, host, port, tls_port, ae_title, **options):
        folder = receive_dir()
        sweep_stale_receipts(folder)
        # pynetdicom's chunked receive writes to tempfile's folder; this process only listens.
        tempfile.tempdir = str(folder)
        tls = " and TLS port %d" % tls_port if settings.DICOM_TLS_CERT_FILE else ""
        self.stdout.write(f"DICOM listener: AE title {ae_title} on {host} port {port}{tls}")
        serve(host=host, port=port or None, ae_title=ae_title, block=True, tls_port=tls_port)
