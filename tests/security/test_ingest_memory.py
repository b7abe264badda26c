"""Memory does not follow the object (issue 16.2): a large object goes in through each door while
the receiving process's peak resident memory stays under 300 MB.

A 624 MB multi-frame file took the listener from 135 MB to 2.55 GB and the web worker to 1.44 GB.
The web doors run in a one-worker gunicorn, C-STORE in `manage.py dicom_listener`; the peak is the
kernel's high-water mark (VmHWM) of that process, read after the store.

The object here is 300 MB, not the issue's 500 MB: a process holding the object once would pass the
300 MB bound with either, and 300 MB keeps the four doors near 40 s of the suite instead of 70 s.
bench/bench_ingest_memory.py sends 500 MB through every door and prints the peaks beside its size.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.authtoken.models import Token

from sharing.models import Instance, Study
from tests.conftest import free_port, worker_env
from tests.security.doors import (
    Gunicorn, object_of_size, send_api, send_cstore, send_stow, send_upload, staff_session,
)
from tests.security.listener_process import ListenerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.integration]

MB = 1000 * 1000
OBJECT_BYTES = 300 * MB
PEAK_LIMIT = 300 * 1024 * 1024
LIMITS = {"MAX_FILE_BYTES": str(600 * MB), "MAX_UPLOAD_BYTES": str(1024**3)}


@pytest.fixture(scope="module")
def big_object(tmp_path_factory):
    return object_of_size(tmp_path_factory.mktemp("big") / "big.dcm", OBJECT_BYTES)


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    folder = tmp_path_factory.mktemp("door-servers")
    web = Gunicorn(worker_env(**LIMITS), free_port(), folder / "gunicorn.log")
    listener = ListenerProcess(folder / "listener.log", **LIMITS).start()
    yield web, listener
    web.stop()
    listener.stop()


def forget_stored() -> None:
    """Each door stores the same object anew: remove what the previous door stored."""
    for instance in Instance.objects.all():
        instance.file.delete(save=False)
    Study.objects.all().delete()


@pytest.mark.parametrize("door", ["c-store", "stow-rs", "upload", "api"])
def test_a_300_mb_object_goes_in_with_peak_memory_under_300_mb(door, servers, big_object, staff, clinic):
    web, listener = servers
    forget_stored()
    clinic.accept_unknown_devices = True
    clinic.save()
    token = Token.objects.get_or_create(user=staff)[0].key
    # The suite's fast MD5 hasher is not one gunicorn's settings accept: store a PBKDF2 hash.
    hasher = PBKDF2PasswordHasher()
    staff.password = hasher.encode("pw-" + staff.username, hasher.salt())
    staff.save()
    if door == "c-store":
        result = send_cstore(listener.port, big_object)
        assert result.returncode == 0, result.stdout + result.stderr
        peak = listener.peak_rss()
    else:
        if door == "stow-rs":
            response = send_stow(web.url, token, big_object)
        elif door == "api":
            response = send_api(web.url, token, big_object)
        else:
            response = send_upload(staff_session(web.url, staff.username, "pw-" + staff.username), web.url, big_object)
        assert response.status_code in (200, 201), response.text[:500]
        peak = web.peak_rss()
    stored = Instance.objects.get()
    assert stored.size >= OBJECT_BYTES and stored.number_of_frames > 300, "the whole object was stored"
    assert peak < PEAK_LIMIT, f"{door}: peak RSS {peak / 2**20:.0f} MiB for a {OBJECT_BYTES // MB} MB object"
