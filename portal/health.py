"""Health endpoints for load balancers, orchestrators and monitoring.

`/healthz` (liveness) answers as long as the process can run a view: it touches no database, no
broker and no storage, so a slow dependency never gets a healthy web process restarted.

`/readyz` (readiness) says whether this process can serve patients and staff right now. It runs
one cheap probe per dependency and answers 503 when a *required* one fails:

- ``database``: ``SELECT 1`` on the default connection, and (once per process) no unapplied
  migrations, so new code is not put in rotation before ``migrate`` has run;
- ``storage``: a small object written to and deleted from Django's default storage (disk or S3),
  at most once per READYZ_STORAGE_PROBE_SECONDS in each process: probes every few seconds from
  several balancers (or anyone on the internet) must not turn into a stream of storage writes.

The others are reported but do not take the process out of rotation:

- ``broker``: Redis ``PING`` when REDIS_URL is set, otherwise the filesystem broker's folder is
  writable. A share requested while the broker is down is still accepted and the sweep
  dispatches it later, so pulling every web process out would only turn a degraded portal into
  an outage; the body says ``"status": "degraded"`` for monitoring to alert on.
- ``worker``: the age of the heartbeat that beat's ``sharing.heartbeat`` task makes a worker
  write to DATA_DIR/worker-heartbeat; ``stale`` past WORKER_HEARTBEAT_STALE_SECONDS.

Bodies are JSON and carry no PHI and nothing an attacker could use: check names, ``ok``, timings
and, on failure, only the exception's class name (messages can name hosts or credentials; they go
to the server log instead).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "worker-heartbeat"
PROBE_TIMEOUT_SECONDS = 2.0
STORAGE_PROBE_NAME = "health/readyz-probe"
# Set once the migration check passes: migrations do not get un-applied under a running process.
_migrations_applied = False


@never_cache
@require_GET
def healthz(request):
    return health_response({"status": "ok"}, 200)


@never_cache
@require_GET
def readyz(request):
    checks = {
        "database": run_check(check_database),
        "storage": run_check(check_storage),
        "broker": run_check(check_broker),
    }
    worker = worker_heartbeat()
    required_ok = checks["database"]["ok"] and checks["storage"]["ok"]
    if not required_ok:
        status = "unavailable"
    elif not checks["broker"]["ok"] or worker["status"] != "ok":
        status = "degraded"
    else:
        status = "ok"
    return health_response({"status": status, "checks": checks, "worker": worker}, 200 if required_ok else 503)


def health_response(body: dict, status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def run_check(check: Callable[[], None]) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a probe reports every failure rather than raising it
        log.warning("readiness check %s failed: %s: %s", check.__name__, type(exc).__name__, exc)
        return {"ok": False, "error": type(exc).__name__, "ms": elapsed_ms(started)}
    return {"ok": True, "ms": elapsed_ms(started)}


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def check_database() -> None:
    global _migrations_applied
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    if not _migrations_applied:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise MigrationsPending("unapplied migrations: run manage.py migrate")
        _migrations_applied = True


class MigrationsPending(Exception):
    pass


@dataclass
class StorageProbe:
    """The last storage write probe of this process: which storage, when (monotonic), what failed."""

    storage: str = ""
    at: float = float("-inf")
    error: Exception | None = None


_last_storage_probe = StorageProbe()


def check_storage() -> None:
    """Write and delete a probe object, or repeat the last result if it is recent enough.

    The result is kept per storage configuration, so a process whose storage settings change
    (tests, a reloaded configuration) probes the new storage at once.
    """
    global _last_storage_probe
    storage = repr((settings.STORAGES["default"], str(settings.MEDIA_ROOT)))
    last = _last_storage_probe
    if last.storage == storage and time.monotonic() - last.at < settings.READYZ_STORAGE_PROBE_SECONDS:
        if last.error is not None:
            raise last.error
        return
    try:
        # A fixed, identifier-free name; the storage may pick another if a probe is left over.
        name = default_storage.save(STORAGE_PROBE_NAME, ContentFile(b"ok"))
        default_storage.delete(name)
    except Exception as exc:
        _last_storage_probe = StorageProbe(storage, time.monotonic(), exc)
        raise
    _last_storage_probe = StorageProbe(storage, time.monotonic())


def check_broker() -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    # kombu's filesystem transport takes every file whose name holds a queue name for a message:
    # this name holds none of them ("celery", "render", "deliver").
    probe = folder / f".readyz-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def worker_heartbeat() -> dict:
    stale_after = getattr(settings, "WORKER_HEARTBEAT_STALE_SECONDS", 120)
    path = Path(settings.DATA_DIR) / HEARTBEAT_FILE
    try:
        written = parse_heartbeat(path)
    except (OSError, ValueError):
        return {"status": "unknown", "heartbeat_age_seconds": None, "stale_after_seconds": stale_after}
    age = max(0.0, (timezone.now() - written).total_seconds())
    return {
        "status": "ok" if age <= stale_after else "stale",
        "heartbeat_age_seconds": round(age, 1),
        "stale_after_seconds": stale_after,
    }


def parse_heartbeat(path: Path) -> dt.datetime:
    """The time the task wrote into the file; its modification time if the content is unreadable."""
    text = path.read_text().strip()
    try:
        written = dt.datetime.fromisoformat(text)
    except ValueError:
        written = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)
    if timezone.is_naive(written):
        written = timezone.make_aware(written, dt.timezone.utc)
    return written
