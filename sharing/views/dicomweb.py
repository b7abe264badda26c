"""DICOMweb STOW-RS (PS3.18 10.5): POST multipart/related; type="application/dicom".

The body streams through the shared multipart reader (ingest/multipart.py): each part goes to its
own temp file as it arrives, under the limits every door enforces (limits.py: MAX_FILE_BYTES per
part, DATA_UPLOAD_MAX_NUMBER_FILES parts, MAX_UPLOAD_BYTES per request). Every part then goes
through the same ingest service as the other doors. The response is the PS3.18 Store Instances
Response Module in DICOM JSON. On the study-scoped route, /dicomweb/studies/{StudyInstanceUID},
an instance of another study is refused and not stored.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, parser_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.parsers import BaseParser

from ..api.views import clinic_for_request
from ..ingest import Candidate, ingest_candidates
from ..ingest.errors import UploadTooLarge
from ..ingest.limits import file_too_large, ingest_limits
from ..ingest.multipart import MalformedMultipart, TooManyParts, read_multipart
from ..ratelimits import limit_api

log = logging.getLogger(__name__)

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS = "00081150"
REFERENCED_SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"
RETRIEVE_URL = "00081190"
# PS3.18 Table I.2-1 / PS3.4 C.4.2: 0xA700 out of resources, 0xA900 data set does not match SOP class,
# 0xC000 cannot understand, 0x0110 processing failure.
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
# An instance whose Study Instance UID is not the one in the request target. PS3.18 leaves the code to
# the origin server within the "cannot understand" range; dcm4chee-arc answers this case with 0xC409.
STUDY_UID_MISMATCH = 0xC409


class StowParser(BaseParser):
    """Accept multipart/related bodies untouched; the view streams them itself."""

    media_type = "multipart/related"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def content_type_params(header: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = header.partition(";")
    params = {}
    for item in rest.split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            params[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), params


def accept_dicom_part(headers: dict[str, str]) -> str | None:
    """A part is kept when it is application/dicom (or says nothing, as some clients do)."""
    part_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if part_type and part_type != "application/dicom":
        return f"unsupported part type {part_type}; send application/dicom"
    return None


def peek_uids(path: Path) -> dict[str, str]:
    """The UIDs a failed-SOP item names and the study scope needs; empty for what does not parse."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"])
        return {key: str(ds.get(key, "")).strip() for key in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")}
    except Exception:  # unreadable parts are ingest's to refuse, with its reason
        return {}


def refuse_other_studies(candidates: list[Candidate], study_uid: str, uids: dict[str, dict]) -> None:
    """PS3.18 10.5: on /studies/{StudyInstanceUID} every instance must belong to that study."""
    for candidate in candidates:
        if candidate.path is None:
            continue
        found = uids[candidate.label].get("StudyInstanceUID")
        if found and found != study_uid:
            candidate.path.unlink(missing_ok=True)
            candidate.path = None
            candidate.error = "the instance belongs to another study than the one in the request URL"


def failure_code(reason: str) -> int:
    if reason == "the instance belongs to another study than the one in the request URL":
        return STUDY_UID_MISMATCH
    if reason == str(file_too_large()):
        return OUT_OF_RESOURCES
    return CANNOT_UNDERSTAND


def failed_item(entry: dict, uids: dict[str, str]) -> dict:
    item = {}
    if uids.get("SOPClassUID"):
        item[REFERENCED_SOP_CLASS] = {"vr": "UI", "Value": [uids["SOPClassUID"]]}
    if uids.get("SOPInstanceUID"):
        item[REFERENCED_SOP_INSTANCE] = {"vr": "UI", "Value": [uids["SOPInstanceUID"]]}
    item[FAILURE_REASON] = {"vr": "US", "Value": [failure_code(entry["reason"])]}
    return item


def dicom_json_reference(instance) -> dict:
    return {
        REFERENCED_SOP_CLASS: {"vr": "UI", "Value": [instance.sop_class_uid]},
        REFERENCED_SOP_INSTANCE: {"vr": "UI", "Value": [instance.sop_instance_uid]},
    }


def refused(message: str, code: int) -> Response:
    return Response({"error": message}, status=code)


def stow_endpoint(*, operation_id: str, summary: str):
    """The decorators of a STOW-RS route (the two routes differ only in their OpenAPI operation)."""

    def decorate(view):
        view = parser_classes([StowParser])(view)
        view = permission_classes([IsAuthenticated])(view)
        view = authentication_classes([TokenAuthentication, SessionAuthentication])(view)
        view = api_view(["POST"])(view)
        view = extend_schema(
            operation_id=operation_id, summary=summary,
            request={"multipart/related": OpenApiTypes.BINARY},
            responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        )(view)
        return limit_api(view)

    return decorate


@stow_endpoint(operation_id="stow_rs", summary="STOW-RS: store instances")
def stow_rs(request):
    return store_instances(request, None)


@stow_endpoint(operation_id="stow_rs_study", summary="STOW-RS: store instances of one study")
def stow_rs_study(request, study_uid: str):
    return store_instances(request, study_uid)


def store_instances(request, study_uid: str | None) -> Response:
    kind, params = content_type_params(request.META.get("CONTENT_TYPE", ""))
    if kind != "multipart/related" or "boundary" not in params:
        return refused('Content-Type must be multipart/related; type="application/dicom"; boundary=…',
                       status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    if params.get("type", "application/dicom").lower() != "application/dicom":
        return refused("only application/dicom parts are accepted", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    limits = ingest_limits()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limits.max_upload_bytes:
        raise UploadTooLarge(limits.max_upload_bytes)  # answered by UploadLimitMiddleware, as at every door
    try:
        clinic = clinic_for_request(request.user, request.query_params.get("clinic"))
    except Http404:
        return refused("no clinic", status.HTTP_403_FORBIDDEN)
    try:
        # UploadTooLarge (the body past MAX_UPLOAD_BYTES) goes on to UploadLimitMiddleware's 413.
        candidates = read_multipart(request._request.read, params["boundary"], accept=accept_dicom_part)
    except TooManyParts as exc:
        log.warning("STOW-RS refused: %s", exc)
        return refused(str(exc), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    except MalformedMultipart:
        return refused("the body is not multipart/related with the announced boundary", status.HTTP_400_BAD_REQUEST)
    if not candidates:
        return refused("the request holds no DICOM parts", status.HTTP_400_BAD_REQUEST)

    uids = {c.label: (peek_uids(c.path) if c.path is not None else {}) for c in candidates}
    if study_uid:
        refuse_other_studies(candidates, study_uid, uids)
    report = ingest_candidates(clinic, candidates, source="dicomweb")
    referenced = [dicom_json_reference(instance) for instance in report.instances]
    failures = report.rejected + report.discarded
    failed = [failed_item(entry, uids.get(entry["file"], {})) for entry in failures]
    body_json = {}
    if referenced:
        body_json[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    if failed:
        body_json[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    code = status.HTTP_200_OK if not failed else (status.HTTP_202_ACCEPTED if referenced else status.HTTP_409_CONFLICT)
    response = Response(body_json, status=code, content_type="application/dicom+json")
    # Reasons for failures, for humans reading the response (the DICOM JSON carries only codes).
    if failed:
        response["Warning"] = "299 portal " + '"' + "; ".join(f"{r['file']}: {r['reason']}" for r in failures)[:900].replace('"', "'") + '"'
    return response
