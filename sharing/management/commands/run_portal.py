"""Run the whole portal in the foreground: web server, Celery worker and DICOM listener.

`make run` calls this. Ctrl-C (SIGINT) or SIGTERM stops all three cleanly; if any one of them
dies, the others are stopped too, so a half-running portal is never left behind.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


# The access log records paths, and patient links are /p/<token>: the logger class redacts the
# token (and any other secret) from every atom and error line; the format leaves out the query.
GUNICORN_LOG_ARGS = [
    "--access-logfile", "-", "--error-logfile", "-",
    "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    "--logger-class", "portal.logging.RedactingGunicornLogger",
]


class Command(BaseCommand):
    help = "Serve the web app, a Celery worker and the DICOM listener until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
        parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", 2)))

    def handle(self, *args, host, web_workers, worker_concurrency, **options):
        python = sys.executable
        bin_dir = os.path.dirname(python)
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"), "portal.wsgi:application",
                "--bind", f"{host}:{settings.PORT}", "--workers", str(web_workers), "--threads", "4",
                "--timeout", "300", "--graceful-timeout", "10", *GUNICORN_LOG_ARGS,
            ],
            "worker": [
                python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                "--concurrency", str(worker_concurrency), "--without-gossip", "--without-mingle",
                "--queues", "celery,render,deliver", "--beat", "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
            "dicom": [python, "manage.py", "dicom_listener"],
        }
        processes = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command in commands.items():
            # Each child in its own process group: Ctrl-C reaches us once, and we stop them in order.
            processes[name] = subprocess.Popen(command, start_new_session=True)

        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Patient portal is running at {settings.PUBLIC_URL}/\n"
                f"  Sign in as demo / demo\n"
                f"  DICOM: AE title {settings.DICOM_AE_TITLE}, port {settings.DICOM_PORT}\n"
                f"  Outboxes: {settings.EMAIL_OUTBOX_DIR} and {settings.SMS_OUTBOX_DIR}\n"
                f"  Press Ctrl-C to stop.\n"
            )
        )
        exit_code = 0
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the portal.")
                        exit_code = 1
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            self.stdout.write("Portal stopped.")
        sys.exit(exit_code)
