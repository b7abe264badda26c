"""DICOMweb STOW-RS (PS3.18 10.5): POST multipart/related; type="application/dicom".

The body is streamed to a temp file under the upload limit, split into parts on disk, and every
part goes through the same ingest service as the other doors. The response is the PS3.18 Store
Instances Response Module in DICOM JSON.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

from django.conf import settings
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
from ..ingest.sources import temp_dir
from ..ratelimits import limit_api

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS = "00081150"
REFERENCED_SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"
RETRIEVE_URL = "00081190"
# PS3.18 Table I.2-1 / PS3.4 C.4.2: 0xA700 out of resources, 0xA900 data set does not match SOP class,
# 0xC000 cannot understand, 0x0110 processing failure.
CANNOT_UNDERSTAND = 0xC000


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


def spool_body(request) -> Path:
    """Stream the request body to a temp file, refusing it once it passes the upload limit."""
    limit = settings.MAX_UPLOAD_BYTES
    fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".stow")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := request.read(1024 * 1024):
                written += len(chunk)
                if written > limit:
                    raise OverflowError
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def split_parts(body: Path, boundary: str) -> list[Candidate]:
    """Split a multipart/related body into one temp file per part (RFC 2046 5.1.1)."""
    delimiter = b"--" + boundary.encode("latin-1")
    candidates: list[Candidate] = []
    if body.stat().st_size == 0:
        return candidates
    with open(body, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        position = data.find(delimiter)
        index = 0
        while position != -1:
            start = position + len(delimiter)
            if data[start:start + 2] == b"--":
                break  # close delimiter
            header_end = data.find(b"\r\n\r\n", start)
            if header_end == -1:
                break
            following = data.find(b"\r\n" + delimiter, header_end + 4)
            if following == -1:
                index += 1
                candidates.append(Candidate(f"part {index}", error="multipart body ends before its closing boundary (truncated)"))
                break
            index += 1
            label = f"part {index}"
            headers = data[start:header_end].decode("latin-1", "replace").lower()
            part_type = ""
            for line in headers.split("\r\n"):
                if line.startswith("content-type:"):
                    part_type = line.split(":", 1)[1].split(";")[0].strip()
            if part_type and part_type != "application/dicom":
                candidates.append(Candidate(label, error=f"unsupported part type {part_type}; send application/dicom"))
            else:
                fd, name = tempfile.mkstemp(dir=temp_dir(), suffix=".part")
                with os.fdopen(fd, "wb") as out:
                    out.write(data[header_end + 4:following])
                candidates.append(Candidate(label, path=Path(name)))
            position = following + 2
    return candidates


def dicom_json_reference(instance, retrieve_base: str) -> dict:
    return {
        REFERENCED_SOP_CLASS: {"vr": "UI", "Value": [instance.sop_class_uid]},
        REFERENCED_SOP_INSTANCE: {"vr": "UI", "Value": [instance.sop_instance_uid]},
    }


@limit_api
@extend_schema(
    summary="STOW-RS: store instances",
    request={"multipart/related": OpenApiTypes.BINARY},
    responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
@authentication_classes([TokenAuthentication, SessionAuthentication])
@permission_classes([IsAuthenticated])
@parser_classes([StowParser])
def stow_rs(request, study_uid: str | None = None):
    kind, params = content_type_params(request.META.get("CONTENT_TYPE", ""))
    if kind != "multipart/related" or "boundary" not in params:
        return Response(
            {"error": 'Content-Type must be multipart/related; type="application/dicom"; boundary=…'},
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if params.get("type", "application/dicom").lower() != "application/dicom":
        return Response({"error": "only application/dicom parts are accepted"}, status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > settings.MAX_UPLOAD_BYTES:
        return Response({"error": "request body is larger than the upload limit"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    try:
        clinic = clinic_for_request(request.user, request.query_params.get("clinic"))
    except Http404:
        return Response({"error": "no clinic"}, status=status.HTTP_403_FORBIDDEN)
    try:
        body = spool_body(request._request)
    except OverflowError:
        return Response({"error": "request body is larger than the upload limit"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    try:
        candidates = split_parts(body, params["boundary"])
    finally:
        body.unlink(missing_ok=True)
    if not candidates:
        return Response({"error": "the request holds no DICOM parts"}, status=status.HTTP_400_BAD_REQUEST)

    report = ingest_candidates(clinic, candidates, source="dicomweb")
    referenced, failed = [], []
    for instance in report.instances:
        if study_uid and instance.study.study_instance_uid != study_uid:
            continue
        referenced.append(dicom_json_reference(instance, ""))
    for entry in report.rejected + report.discarded:
        failed.append({FAILURE_REASON: {"vr": "US", "Value": [CANNOT_UNDERSTAND]}})
    body_json = {}
    if referenced:
        body_json[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    if failed:
        body_json[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    code = status.HTTP_200_OK if not failed else (status.HTTP_202_ACCEPTED if referenced else status.HTTP_409_CONFLICT)
    response = Response(body_json, status=code, content_type="application/dicom+json")
    # Reasons for failures, for humans reading the response (the DICOM JSON carries only codes).
    if failed:
        response["Warning"] = "299 portal " + '"' + "; ".join(f"{r['file']}: {r['reason']}" for r in report.rejected + report.discarded)[:900].replace('"', "'") + '"'
    return response
