"""The C-STORE receiver (AE title PORTAL): every storage SOP class, the common transfer syntaxes.

A store is answered Success only after the instance is durably stored (file fsynced, rows
committed), so a sender that sees Success may delete its copy. Anything else gets a failure
status and the sender keeps its copy and may retry.

Received objects stream to a temporary file as their PDUs arrive (pynetdicom's chunked receive),
so memory does not follow the object; one that passes MAX_FILE_BYTES is discarded while it streams
and answered 0xA700, like the other doors refuse it. Who may connect, for how long and over TLS is
`listener_server.py`.

The calling AE title is a label a device sends, not a credential: anyone who can reach the port
can send any title. Device rules (allowed source network) and DICOM TLS with client certificates
are what restrict senders.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import Verification
from pydicom import uid

from anonymizer.defects import report_defect
from anonymizer.video import VIDEO_SYNTAXES

from .ingest import RejectedFile, ingest_dicom_file
from .ingest.limits import file_too_large, ingest_limits
from .ingest.sources import move_into_temp
from .listener_server import GuardedAssociationServer, tls_context_from_settings
from .models import Clinic, DicomDevice, Study

log = logging.getLogger(__name__)

VIDEO_TRANSFER_SYNTAXES = [uid.UID(syntax) for syntax in VIDEO_SYNTAXES]

# Uncompressed, deflate, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K and RLE: what
# carts send, and every still-image syntax pydicom's installed decoders read; and the video
# syntaxes (MPEG-2, H.264, HEVC) that cardiac and general ultrasound systems export clips in, each
# checked by decoding its first frame at ingest.
ACCEPTED_TRANSFER_SYNTAXES = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.HTJ2KLossless,
    uid.HTJ2KLosslessRPCL,
    uid.HTJ2K,
    uid.RLELossless,
    *VIDEO_TRANSFER_SYNTAXES,
]

STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC000  # PS3.4 Annex B: Error, cannot understand
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_NOT_AUTHORIZED = 0x0124  # refused: the calling AE is not allowed to store here


def device_for_calling_ae(ae_title: str) -> DicomDevice | None:
    return DicomDevice.objects.select_related("clinic").filter(ae_title=ae_title.strip()).first()


def clinic_for_calling_ae(ae_title: str) -> Clinic | None:
    device = device_for_calling_ae(ae_title)
    if device is not None:
        return device.clinic
    return clinic_for_unknown_device()


def clinic_for_unknown_device() -> Clinic | None:
    # An unregistered device goes to the clinic that accepts unknown devices, but only when there
    # is exactly one: with two, we could file one clinic's exams in the other's list.
    accepting = list(Clinic.objects.filter(accept_unknown_devices=True)[:2])
    if len(accepting) > 1:
        log.warning("C-STORE refused: several clinics accept unknown devices; register the AE title")
        return None
    return accepting[0] if accepting else None


def peer_allowed(device: DicomDevice, peer: str) -> bool:
    """True when the device has no source rule, or the peer address lies in its allowed network."""
    if not device.allowed_network:
        return True
    try:
        return ipaddress.ip_address(peer) in ipaddress.ip_network(device.allowed_network, strict=False)
    except ValueError:
        return False


def calling_ae_title(event) -> str:
    calling = event.assoc.requestor.ae_title
    return calling.decode(errors="replace") if isinstance(calling, bytes) else str(calling)


class DiscardedDataset:
    """Stands in for pynetdicom's temp file once an object passes MAX_FILE_BYTES: it counts the
    rest of the object's bytes and keeps none, so the disk holds at most the limit per transfer."""

    def __init__(self, original):
        self.name = original.name
        self.written = original.tell()
        self.file = self  # pynetdicom calls ._data_set_file.file.flush()

    def write(self, data) -> int:
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def cap_received_dataset(event) -> None:
    """EVT_PDU_RECV: stop keeping an object that has passed MAX_FILE_BYTES while it streams in.

    pynetdicom (STORE_RECV_CHUNKED_DATASET) appends each P-DATA to a temp file after this event;
    once the file is over the limit it is emptied and replaced by a counter. The store handler sees
    the stand-in and answers 0xA700. The private attributes are pynetdicom 2/3's chunked receive.
    """
    if not isinstance(event.pdu, P_DATA_TF):
        return
    message = getattr(event.assoc.dimse, "message", None)
    receiving = getattr(message, "_data_set_file", None)
    if receiving is None or isinstance(receiving, DiscardedDataset):
        return
    if receiving.tell() > ingest_limits().max_file_bytes:
        message._data_set_file = DiscardedDataset(receiving)
        receiving.truncate(0)
        receiving.close()


def discard_partial_dataset(event) -> None:
    """EVT_CONN_CLOSE: an association that ends mid-object leaves pynetdicom's temp file behind."""
    message = getattr(getattr(event.assoc, "dimse", None), "message", None)
    receiving = getattr(message, "_data_set_file", None)
    if receiving is None:
        return
    try:
        receiving.close()
    except OSError:
        pass
    Path(receiving.name).unlink(missing_ok=True)


def handle_store(event) -> int:
    """Store one received object; return the DIMSE status."""
    close_old_connections()
    try:
        received = getattr(event.request, "_dataset_file", None)
        if isinstance(received, DiscardedDataset):
            log.warning("C-STORE refused: %s", file_too_large())
            return STATUS_OUT_OF_RESOURCES
        return store_received(event, event.dataset_path)
    finally:
        close_old_connections()


def store_received(event, received: Path) -> int:
    calling = calling_ae_title(event)
    peer = event.assoc.requestor.address
    device = device_for_calling_ae(calling)
    if device is not None and not peer_allowed(device, peer):
        log.warning("C-STORE refused: device %s sent from %s, outside its allowed network", device.ae_title, peer)
        return STATUS_NOT_AUTHORIZED
    clinic = device.clinic if device is not None else clinic_for_unknown_device()
    if clinic is None:
        log.warning("C-STORE refused: calling AE title is not registered with any clinic")
        return STATUS_NOT_AUTHORIZED
    if received.stat().st_size > ingest_limits().max_file_bytes:
        log.warning("C-STORE refused: %s", file_too_large())
        return STATUS_OUT_OF_RESOURCES
    # The Part 10 file pynetdicom wrote as the PDUs arrived: move it, no decode, no copy in memory.
    path = move_into_temp(received)
    try:
        ingest_dicom_file(clinic, path, source=Study.Source.DICOM, source_detail=calling)
        return STATUS_SUCCESS
    except RejectedFile as exc:
        log.warning("C-STORE rejected: %s", exc)
        return STATUS_CANNOT_UNDERSTAND
    except OSError:
        log.exception("C-STORE failed while storing")
        return STATUS_OUT_OF_RESOURCES
    except Exception as exc:
        # A defect (or an IngestDefect already logged by the anonymizer): stack and reference, no identifiers.
        report_defect(exc, where="storing a C-STORE object", logger=log)
        return STATUS_CANNOT_UNDERSTAND
    finally:
        path.unlink(missing_ok=True)


def log_rejected_association(event) -> None:
    """EVT_REJECTED: say why a peer was turned away (titles and address only, nothing from a dataset)."""
    requestor = event.assoc.requestor
    called = getattr(getattr(requestor, "primitive", None), "called_ae_title", "") or ""
    called = called.decode(errors="replace") if isinstance(called, bytes) else str(called)
    ours = event.assoc.ae.ae_title
    reason = f"called AE title {called.strip()!r} is not {ours!r}" if called.strip() != ours else "no acceptable context or limit reached"
    log.warning("DICOM association from %s (calling AE %r) rejected: %s", requestor.address, calling_ae_title(event), reason)


def build_ae(ae_title: str) -> AE:
    # Write each incoming object to a temp file as it arrives instead of holding it in memory.
    _config.STORE_RECV_CHUNKED_DATASET = True
    ae = AE(ae_title=ae_title)
    # Peers split objects into PDUs no larger than this, which bounds what one read holds.
    ae.maximum_pdu_size = settings.DICOM_MAX_PDU_BYTES
    ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.maximum_associations = settings.DICOM_MAX_ASSOCIATIONS
    # An association addressed to another AE title is meant for another system: refuse it.
    ae.require_called_aet = True
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ACCEPTED_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    return ae


HANDLERS = [
    (evt.EVT_C_STORE, handle_store),
    (evt.EVT_PDU_RECV, cap_received_dataset),
    (evt.EVT_CONN_CLOSE, discard_partial_dataset),
    (evt.EVT_REJECTED, log_rejected_association),
]


def make_server(ae: AE, host: str, port: int, *, ssl_context=None) -> GuardedAssociationServer:
    server = ae.make_server((host, port), evt_handlers=HANDLERS, ssl_context=ssl_context,
                            server_class=GuardedAssociationServer)
    server.max_per_peer = settings.DICOM_MAX_ASSOCIATIONS_PER_PEER
    ae._servers.append(server)  # as AE.start_server does, so AE.shutdown() and server.shutdown() find it
    return server


def serve(*, host: str, port: int | None, ae_title: str, block: bool = True, tls_port: int | None = None):
    """Start the listener on `port` (plain) and, when DICOM TLS is configured, on `tls_port`.

    With block=False return the servers (one or two) so a caller can shut them down; a single
    server is returned as itself.
    """
    ae = build_ae(ae_title)
    servers = []
    if port is not None:
        servers.append(make_server(ae, host, port))
        log.info("DICOM listener %s on %s:%d", ae_title, host, port)
    context = tls_context_from_settings()
    if context is not None and tls_port is not None:
        servers.append(make_server(ae, host, tls_port, ssl_context=context))
        log.info("DICOM listener %s on %s:%d (TLS)", ae_title, host, tls_port)
    threads = [threading.Thread(target=server.serve_forever, daemon=True, name=f"dicom-server-{i}")
               for i, server in enumerate(servers)]
    for thread in threads:
        thread.start()
    if not block:
        return servers[0] if len(servers) == 1 else servers
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
    return None
