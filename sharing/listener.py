"""The C-STORE receiver (AE title PORTAL): every storage SOP class, the common transfer syntaxes.

A store is answered Success only after the instance is durably stored (file fsynced, rows
committed), so a sender that sees Success may delete its copy. Anything else gets a failure
status and the sender keeps its copy and may retry.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from django.db import close_old_connections
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pydicom import uid

from anonymizer.defects import report_defect

from .ingest import RejectedFile, ingest_dicom_file
from .ingest.sources import temp_dir
from .models import Clinic, DicomDevice, Study

log = logging.getLogger(__name__)

# Uncompressed, deflate, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K and RLE: what
# carts send, and every still-image syntax pydicom's installed decoders read.
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
]

STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC000  # PS3.4 Annex B: Error, cannot understand
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_NOT_AUTHORIZED = 0x0124  # refused: the calling AE is not allowed to store here


def clinic_for_calling_ae(ae_title: str) -> Clinic | None:
    device = DicomDevice.objects.select_related("clinic").filter(ae_title=ae_title.strip()).first()
    if device is not None:
        return device.clinic
    # An unregistered device goes to the clinic that accepts unknown devices, but only when there
    # is exactly one: with two, we could file one clinic's exams in the other's list.
    accepting = list(Clinic.objects.filter(accept_unknown_devices=True)[:2])
    if len(accepting) > 1:
        log.warning("C-STORE refused: several clinics accept unknown devices; register the AE title")
        return None
    return accepting[0] if accepting else None


def handle_store(event) -> int:
    """Store one received object; return the DIMSE status."""
    close_old_connections()
    calling = event.assoc.requestor.ae_title
    calling = calling.decode(errors="replace") if isinstance(calling, bytes) else str(calling)
    clinic = clinic_for_calling_ae(calling)
    if clinic is None:
        log.warning("C-STORE refused: calling AE title is not registered with any clinic")
        return STATUS_NOT_AUTHORIZED
    fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".cstore")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            # The encoded dataset as received, with a new file meta: no decode, no re-encode.
            out.write(event.encoded_dataset(include_meta=True))
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
        close_old_connections()


def build_ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = 0  # no limit: large multi-frame objects arrive in fewer PDUs
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ACCEPTED_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    return ae


def serve(*, host: str, port: int, ae_title: str, block: bool = True):
    """Start the listener; with block=False return the server so a caller can shut it down."""
    ae = build_ae(ae_title)
    handlers = [(evt.EVT_C_STORE, handle_store)]
    log.info("DICOM listener %s on %s:%d", ae_title, host, port)
    return ae.start_server((host, port), block=block, evt_handlers=handlers)
