"""The DICOM listener restarted in the middle of an association: the sender sees a failure, never
a false success, and a re-send completes. The listener runs as its own process, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage, Verification

from sharing.ingest.validation import validate_dicom
from sharing.models import Instance
from tests.conftest import ROOT, free_port, wait_until, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.integration]


def start_listener(port: int, log) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=worker_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_until(lambda: echo(port), timeout=60, what="the listener to answer C-ECHO")
    return process


def echo(port: int) -> bool:
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
    if not assoc.is_established:
        return False
    try:
        return assoc.send_c_echo().get("Status") == 0
    finally:
        assoc.release()


def associate(port: int):
    ae = AE(ae_title="US_CART")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, pydicom.uid.JPEGBaseline8Bit)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
    assert assoc.is_established
    return assoc


def test_listener_killed_mid_association_fails_the_send_and_a_resend_completes(clinic, exam, tmp_path):
    clinic.accept_unknown_devices = True
    clinic.save()
    port = free_port()
    log = open(tmp_path / "listener.log", "ab")
    listener = start_listener(port, log)
    first, second = (pydicom.dcmread(p) for p in exam)
    try:
        assoc = associate(port)
        assert assoc.send_c_store(first).Status == 0x0000

        os.killpg(listener.pid, signal.SIGKILL)  # a crash or a restart, mid-association
        listener.wait()
        try:
            succeeded = assoc.send_c_store(second).get("Status") == 0x0000
        except RuntimeError:
            succeeded = False  # the sender noticed the abort first and refuses to send: also a failure
        assert not succeeded, "the sender must not see success for an object we did not store"
        wait_until(lambda: not assoc.is_established, timeout=10, what="the sender to see the association end")
        assert not Instance.objects.filter(sop_instance_uid=second.SOPInstanceUID).exists()

        listener = start_listener(port, log)
        retry = associate(port)
        try:
            assert retry.send_c_store(second).Status == 0x0000, "the re-send completes"
            assert retry.send_c_store(first).Status == 0x0000, "re-sending a stored object is harmless"
        finally:
            retry.release()
    finally:
        if listener.poll() is None:
            os.killpg(listener.pid, signal.SIGTERM)
            listener.wait(timeout=20)

    stored = Instance.objects.order_by("pk")
    assert [i.sop_instance_uid for i in stored] == [first.SOPInstanceUID, second.SOPInstanceUID], "each stored once"
    for instance in stored:
        validate_dicom(instance.file.path)  # complete and valid, not a torn write
