"""The DICOM listener cannot be shut for everyone, and only the devices allowed in get in.

Issue 16.1: ten TCP connections that each sent three bytes of a PDU header held all of pynetdicom's
association slots for as long as they stayed open. Issue 16.6: the called AE title was not checked,
the calling AE title was the only thing that told devices apart, and there was no TLS. The listener
runs as its own process (manage.py dicom_listener), with real peers: dcmtk's storescu and pynetdicom.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import select
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from sharing.models import DicomDevice, Instance
from tests.conftest import wait_until
from tests.security.listener_process import ListenerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.integration]

NETWORK_TIMEOUT = 2
PER_PEER = 4
ATTACKER = "127.0.0.2"  # all of 127.0.0.0/8 is loopback on Linux: a second peer address


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made here with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("dicom-tls")
    now = dt.datetime.now(dt.timezone.utc)

    def make(name, issuer_cert=None, issuer_key=None, *, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer_cert.subject if issuer_cert else subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert, key, cert_path, key_path

    ca_cert, ca_key, ca_path, _ = make("portal-test-ca", ca=True)
    _, _, server_cert, server_key = make("portal", ca_cert, ca_key,
                                         san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    _, _, client_cert, client_key = make("us-cart", ca_cert, ca_key)
    return {"ca": ca_path, "server": (server_cert, server_key), "client": (client_cert, client_key)}


@pytest.fixture(scope="module")
def listener(django_db_setup, certificates, tmp_path_factory):
    process = ListenerProcess(
        tmp_path_factory.mktemp("listener") / "listener.log",
        DICOM_NETWORK_TIMEOUT=NETWORK_TIMEOUT, DICOM_ACSE_TIMEOUT=NETWORK_TIMEOUT,
        DICOM_MAX_ASSOCIATIONS_PER_PEER=PER_PEER, DICOM_MAX_ASSOCIATIONS=16,
        DICOM_TLS_CERT_FILE=certificates["server"][0], DICOM_TLS_KEY_FILE=certificates["server"][1],
        DICOM_TLS_CA_FILE=certificates["ca"],
    ).start()
    yield process
    process.stop()


@pytest.fixture
def open_clinic(clinic):
    clinic.accept_unknown_devices = True
    clinic.save()
    return clinic


class HalfOpenFlood:
    """Holds `count` connections from `source`, each having sent 3 bytes of a PDU header, and
    reopens every one the listener closes, as the attacker in the report did."""

    def __init__(self, port: int, *, count: int = 50, source: str = ATTACKER):
        self.port, self.count, self.source = port, count, source
        self.sockets: list[socket.socket] = []
        self.connects = 0
        self.most_held = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while self.connects < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()

    def _run(self):
        while not self._stop.is_set():
            while len(self.sockets) < self.count:
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                                    source_address=(self.source, 0))
                    sock.sendall(b"\x01\x00\x00")  # A-ASSOCIATE-RQ type, reserved, first length byte
                except OSError:
                    break
                self.connects += 1
                self.sockets.append(sock)
            self.most_held = max(self.most_held, len(self.sockets))
            readable, _, _ = select.select(self.sockets, [], [], 0.05)
            for sock in readable:  # readable with nothing to read: the listener closed it
                try:
                    closed = sock.recv(16) == b""
                except OSError:
                    closed = True
                if closed:
                    sock.close()
                    self.sockets.remove(sock)


def storescu(port: int, paths, *, calling="US_ROOM_1", called="PORTAL"):
    return subprocess.run(
        ["storescu", "-xy", "-aet", calling, "-aec", called, "-to", "20", "-ta", "20", "-td", "20",
         "127.0.0.1", str(port), *map(str, paths)],
        capture_output=True, text=True, timeout=120,
    )


def pynetdicom_store(port: int, ds, *, calling="US_ROOM_2", called="PORTAL", tls_args=None):
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(UltrasoundMultiFrameImageStorage, pydicom.uid.JPEGBaseline8Bit)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    ae.add_requested_context(UltrasoundImageStorage, pydicom.uid.JPEG2000Lossless)
    assoc = ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls_args)
    if not assoc.is_established:
        return assoc, None
    try:
        return assoc, assoc.send_c_store(ds).get("Status")
    finally:
        assoc.release()


def test_fifty_half_open_sockets_do_not_keep_a_modality_out(listener, open_clinic, exam):
    with HalfOpenFlood(listener.port, count=50) as flood:
        result = storescu(listener.port, exam)
        held_during_store = flood.most_held
    assert result.returncode == 0, result.stdout + result.stderr
    assert Instance.objects.count() == len(exam), "the modality's exam is stored while the flood goes on"
    assert flood.connects >= 50 and held_during_store <= 50
    log = listener.log()
    assert f"DICOM connection from {ATTACKER} refused" in log, "refusals are logged"
    assert "PID-4711" not in log and "DOE" not in log, "no patient identifier in the listener's log"


def test_a_partial_pdu_is_dropped_within_seconds(listener):
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=30)
    try:
        sock.sendall(b"\x01\x00\x00")
        started = time.monotonic()
        try:
            data = sock.recv(64)
        except ConnectionResetError:
            data = b""
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert data[:1] in (b"", b"\x07"), "the listener closes (or aborts) the stalled connection"
    assert waited < NETWORK_TIMEOUT + 5, f"a partial PDU held its slot for {waited:.1f} s"


def test_an_association_for_another_called_ae_title_is_refused(listener, open_clinic, exam):
    assoc, status = pynetdicom_store(listener.port, pydicom.dcmread(exam[0]), called="OTHER_PACS")
    assert assoc.is_rejected and status is None, "an association addressed to another AE title is refused"
    assert Instance.objects.count() == 0
    assert "rejected: called AE title 'OTHER_PACS' is not 'PORTAL'" in listener.log()


def test_a_device_sending_from_outside_its_allowed_network_is_refused(listener, clinic, exam):
    device = DicomDevice.objects.create(clinic=clinic, ae_title="US_ROOM_2", allowed_network="10.20.0.0/16")
    ds = pydicom.dcmread(exam[0])
    _, status = pynetdicom_store(listener.port, ds)
    assert status == 0x0124, "the calling AE title alone does not let a sender in"
    assert Instance.objects.count() == 0
    assert "outside its allowed network" in listener.log()

    device.allowed_network = "127.0.0.1/32"
    device.save()
    _, status = pynetdicom_store(listener.port, ds)
    assert status == 0x0000 and Instance.objects.count() == 1, "from its own address the device stores"


def test_dicom_tls_with_a_client_certificate_stores_and_without_one_is_refused(listener, open_clinic, exam, certificates):
    ds = pydicom.dcmread(exam[0])

    def client_context(with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates["ca"]))
        if with_certificate:
            context.load_cert_chain(*map(str, certificates["client"]))
        return context

    assoc, status = pynetdicom_store(listener.tls_port, ds, tls_args=(client_context(True), "127.0.0.1"))
    assert status == 0x0000, "a device with a certificate from the configured CA stores over TLS"
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()

    assoc, status = pynetdicom_store(listener.tls_port, pydicom.dcmread(exam[1]),
                                     tls_args=(client_context(False), "127.0.0.1"))
    assert not assoc.is_established and status is None, "without a client certificate there is no association"
    assert Instance.objects.count() == 1
    assert listener.echo(), "the failed handshake did not stop the listener from serving others"


def test_a_sender_that_vanishes_mid_object_leaves_no_partial_file(listener, open_clinic, tmp_path):
    from tests.security.doors import object_of_size

    receive_dir = Path(os.environ["DATA_DIR"]) / "tmp" / "dicom-receive"
    big = object_of_size(tmp_path / "big.dcm", 60 * 1000 * 1000)
    sender = subprocess.Popen(["storescu", "-xe", "-aec", "PORTAL", "127.0.0.1", str(listener.port), str(big)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(p.stat().st_size > 0 for p in receive_dir.iterdir()), timeout=60, interval=0.02,
                   what="the object to start arriving")
    finally:
        sender.kill()  # the modality is switched off mid-transfer
        sender.wait()
    wait_until(lambda: not list(receive_dir.iterdir()), timeout=NETWORK_TIMEOUT + 10,
               what="the half-received object to be removed")
    assert Instance.objects.count() == 0
