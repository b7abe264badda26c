"""Run the whole portal in the foreground: web server, Celery worker and beat, and DICOM listener.

`make run` calls this. Ctrl-C (SIGINT) or SIGTERM stops all three; if any one of them dies, the
others are stopped too, so a half-running portal is never left behind.

How they are stopped matters (issue 16.13). Each child runs in its own session, so a Ctrl-C in the
terminal reaches only us. We signal each child's *main* process: Celery's documentation asks for
exactly that, because a SIGTERM that also reaches the pool processes can deadlock billiard's
shutdown (Pool._help_stuff_finish waiting on a lock a killed pool process held), leaving a worker
that ignores SIGTERM forever. Whatever is still running after STOP_GRACE_SECONDS (shorter than a
supervisor's usual 10 s before SIGKILL) is killed with its whole process group. And each child asks
the kernel for a stop signal when we die (PR_SET_PDEATHSIG, see PARENT_DEATH_SIGNALS), so a SIGKILL
of this process leaves nothing running either.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections


# The access log records paths, and patient links are /p/<token>: the logger class redacts the
# token (and any other secret) from every atom and error line; the format leaves out the query.
GUNICORN_LOG_ARGS = [
    "--access-logfile", "-", "--error-logfile", "-",
    "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    "--logger-class", "portal.logging.RedactingGunicornLogger",
]
# A supervisor (systemd, docker, a test harness) usually sends SIGKILL 10 s after SIGTERM; we
# escalate ourselves before that, so it is we who reap every process.
STOP_GRACE_SECONDS = float(os.environ.get("PORTAL_STOP_GRACE_SECONDS", 8))
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int):
    """A preexec_fn: the kernel sends the child `sig` when run_portal exits, however it exits."""

    def set_parent_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)

    return set_parent_death_signal


# What each child gets from the kernel if run_portal dies without stopping it. SIGTERM stops gunicorn,
# beat and the listener at once. A worker would wait for its running task (a render can take
# minutes), and its shutdown is what can deadlock: it gets SIGKILL, and Celery's pool processes have
# SIGKILL as their own parent-death signal, so the whole worker goes. Beat runs as its own child, not
# embedded in the worker (--beat), because an embedded beat process would outlive a killed worker.
# The pipeline's steps are idempotent and the stuck-share sweep re-dispatches an interrupted share.
PARENT_DEATH_SIGNALS = {"web": signal.SIGTERM, "worker": signal.SIGKILL, "beat": signal.SIGTERM, "dicom": signal.SIGTERM}


def web_bind(default_port: int) -> str:
    """BIND is an address (the port comes from PORT) or address:port, as gunicorn's --bind takes it;
    loopback unless set, so the demo is not on the network by accident."""
    bind = os.environ.get("BIND") or os.environ.get("HOST") or "127.0.0.1"
    host, _, port = bind.rpartition(":")
    if host and port.isdigit() and (not host.count(":") or host.endswith("]")):
        return bind
    return f"{bind}:{default_port}"


def kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is gone already


class Command(BaseCommand):
    help = "Serve the web app, a Celery worker and the DICOM listener until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=None, help="web address (BIND, default 127.0.0.1:$PORT)")
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
        parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", 2)))
        parser.add_argument("--prepare", action="store_true",
                            help="migrate, collect static files and (without DATABASE_URL) ensure the demo first")

    def prepare(self) -> None:
        """What `make run` needs before serving, in this one process: each separate manage.py command
        would start Django again, seconds each on a small machine."""
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        if not os.environ.get("DATABASE_URL"):
            call_command("ensure_demo")
        connections.close_all()  # the children open their own

    def handle(self, *args, bind, web_workers, worker_concurrency, prepare, **options):
        if prepare:
            self.prepare()
        python = sys.executable
        bin_dir = os.path.dirname(python)
        bind = bind or web_bind(settings.PORT)
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"), "portal.wsgi:application",
                "--bind", bind, "--workers", str(web_workers), "--threads", "4",
                "--timeout", "300", "--graceful-timeout", "5", *GUNICORN_LOG_ARGS,
            ],
            "worker": [
                python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                "--concurrency", str(worker_concurrency), "--without-gossip", "--without-mingle",
                "--queues", "celery,render,deliver",
            ],
            "beat": [
                python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
            ],
            "dicom": [python, "manage.py", "dicom_listener"],
        }
        processes: dict[str, subprocess.Popen] = {}
        signals_at: list[float] = []

        def stop(*_):
            signals_at.append(time.monotonic())

        def impatient() -> bool:
            # A second Ctrl-C means "now". The SIGTERM that make forwards to us right after the one
            # the supervisor sent to the group is the same request, not a second one.
            return len(signals_at) > 1 and signals_at[-1] - signals_at[0] > 1.0

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command in commands.items():
            # Each child in its own session: Ctrl-C reaches us once, and we stop them in order.
            processes[name] = subprocess.Popen(
                command, start_new_session=True, preexec_fn=die_with_parent(PARENT_DEATH_SIGNALS[name]),
            )

        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Patient portal is running at {settings.PUBLIC_URL}/ (listening on {bind})\n"
                f"  Sign in as demo / demo\n"
                f"  DICOM: AE title {settings.DICOM_AE_TITLE}, {settings.DICOM_BIND} port {settings.DICOM_PORT}\n"
                f"  Outboxes: {settings.EMAIL_OUTBOX_DIR} and {settings.SMS_OUTBOX_DIR}\n"
                f"  Press Ctrl-C to stop.\n"
            )
        )
        self.stdout.flush()
        exit_code = 0
        try:
            while not signals_at and not exit_code:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the portal.")
                        exit_code = 1
                time.sleep(0.5)
        finally:
            self.stop_children(processes, impatient)
            self.stdout.write("Portal stopped.")
        sys.exit(exit_code)

    def stop_children(self, processes: dict[str, subprocess.Popen], impatient) -> None:
        """SIGTERM each child's main process; after STOP_GRACE_SECONDS (or a second Ctrl-C), SIGKILL
        every child's process group, which takes pool processes and the embedded beat with it."""
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and not impatient():
            if all(process.poll() is not None for process in processes.values()):
                break
            time.sleep(0.1)
        for name, process in processes.items():
            if process.poll() is None:
                self.stderr.write(f"{name} did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it.")
            # Also when the main process is gone: a pool process or beat may still hold its group.
            kill_group(process, signal.SIGKILL)
        for process in processes.values():
            process.wait()
