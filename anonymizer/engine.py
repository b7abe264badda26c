"""The engine: walk a dataset, every sequence item included, and apply a profile.

The engine holds no rules of its own: what happens to an attribute is the
profile's resolved action (see :mod:`profiles` and :mod:`actions`).  It
visits every element at every depth, so an attribute nested in a sequence
item gets the same treatment as at the top level.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from . import actions, dates
from .errors import AnonymizationError
from .profiles import CLEAN, DUMMY, EMPTY, KEEP, REMAP, REMOVE, WALK_REMAP, Profile
from .safe_private import SAFE_PRIVATE_ATTRIBUTES


@dataclass(frozen=True)
class HeaderChange:
    """Before and after of the values an operator's report needs."""

    original_patient_name: str
    original_patient_id: str
    original_study_uid: str
    original_sop_uid: str
    new_patient_name: str
    new_patient_id: str
    new_study_uid: str
    new_sop_uid: str


@dataclass(frozen=True)
class _Walk:
    profile: Profile
    key: bytes
    shift_days: int


def patient_key(ds: Dataset) -> str:
    """What identifies the patient across files: PatientID and its issuer, else the name."""
    patient_id = str(ds.get("PatientID", "") or "").strip()
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    return f"{patient_id}^{issuer}" if patient_id else "name:" + str(ds.get("PatientName", "") or "")


def keyed_patient_pseudonym(ds: Dataset, key: bytes) -> str:
    """``ANON`` + 10 hex digits, the same for one patient in every job with one key."""
    digest = hmac.new(key, b"patient:" + patient_key(ds).encode("utf-8", "replace"), hashlib.sha256)
    return "ANON" + digest.hexdigest()[:10].upper()


def deidentify_header(ds: Dataset, *, profile: Profile, key: bytes) -> HeaderChange:
    """Apply ``profile`` to every attribute of ``ds`` in place (pixels untouched).

    Parameters
    ----------
    ds : Dataset
        The instance, without its file meta (the caller rebuilds that).
    profile : Profile
        What to keep, remove, empty, replace or clean.
    key : bytes
        The job key for UIDs, date shifts and pseudonyms.

    Returns
    -------
    HeaderChange
        Original and new patient name, ID and UIDs, for the report.

    Raises
    ------
    AnonymizationError
        An element cannot be read (wrong VR, bad length ...).
    """
    original = {k: str(ds.get(k, "") or "") for k in (
        "PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientBirthDate")}
    walk = _Walk(
        profile=profile,
        key=key,
        shift_days=dates.date_shift_days(key, patient_key(ds)),
    )
    new_name, new_id = _replacement_identity(ds, profile, key)
    _walk_dataset(ds, walk, clean_content=False)
    _write_identity(ds, profile, new_name, new_id, original["PatientBirthDate"])
    for keyword in profile.added_empty:
        if keyword not in ds:
            setattr(ds, keyword, "")
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = profile.method_text
    ds.LongitudinalTemporalInformationModified = (
        "MODIFIED" if profile.dates_modified else "UNMODIFIED" if profile.date_policy == "keep" else "REMOVED")
    record_method(ds, profile, pixels_cleaned=False)
    return HeaderChange(
        original_patient_name=original["PatientName"],
        original_patient_id=original["PatientID"],
        original_study_uid=original["StudyInstanceUID"],
        original_sop_uid=original["SOPInstanceUID"],
        new_patient_name=str(ds.get("PatientName", "") or ""),
        new_patient_id=str(ds.get("PatientID", "") or ""),
        new_study_uid=str(ds.get("StudyInstanceUID", "") or ""),
        new_sop_uid=str(ds.get("SOPInstanceUID", "") or ""),
    )


def record_method(ds: Dataset, profile: Profile, *, pixels_cleaned: bool) -> None:
    """Write DeidentificationMethodCodeSequence with the CID 7050 codes that apply."""
    items = []
    for value, meaning in profile.method_codes(pixels_cleaned=pixels_cleaned):
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)


def _replacement_identity(ds: Dataset, profile: Profile, key: bytes) -> tuple[str | None, str | None]:
    identity = profile.identity
    if identity.mode == "fixed":
        return identity.name, identity.patient_id
    if identity.mode in ("keyed", "given"):
        given = identity.given.get(str(ds.get("PatientID", "") or "").strip())
        if given:
            return given
        pseudonym = keyed_patient_pseudonym(ds, key)
        return pseudonym, pseudonym
    return None, None


def _write_identity(ds: Dataset, profile: Profile, name: str | None, patient_id: str | None, birth_date: str) -> None:
    if name is not None:
        ds.PatientName = name
        ds.PatientID = patient_id
    if profile.identity.mode == "fixed":
        ds.PatientSex = "O"
    if profile.birth_date == "decade":
        ds.PatientBirthDate = dates.decade_only_date(birth_date)
    elif profile.birth_date == "placeholder":
        ds.PatientBirthDate = "19000101"


def _walk_dataset(ds: Dataset, walk: _Walk, *, clean_content: bool) -> None:
    profile = walk.profile
    private_tags = []
    for tag in list(ds.keys()):
        if tag.group in (0x0000, 0x0002) or tag.element == 0x0000:
            # command group, stray file meta, and group lengths (which change)
            del ds[tag]
            continue
        if tag.is_private:
            private_tags.append(tag)
            continue
        action = profile.action_for(tag)
        if action == REMOVE:
            del ds[tag]  # never converted: a value about to go is not even parsed
            continue
        if action == KEEP and not _keep_needs_value(ds, tag, profile, clean_content):
            continue  # kept as read; pydicom writes the raw bytes back unchanged
        try:
            element = ds[tag]
        except Exception as exc:  # pydicom raises many types for a malformed element
            raise AnonymizationError(f"unreadable element {tag}: {exc}") from exc
        _apply(ds, element, action, walk, clean_content=clean_content, listed=tag in profile.rules)
    if private_tags:
        _apply_private_policy(ds, private_tags, walk, clean_content=clean_content)


def _keep_needs_value(ds: Dataset, tag, profile: Profile, clean_content: bool) -> bool:
    """Whether a kept element must be parsed: sequences, UIDs and anything strict or cleaning may rewrite."""
    if profile.sanitize_by_vr or clean_content:
        return True
    raw = ds.get_item(tag)
    vr = getattr(raw, "VR", None) or dictionary_vr_or_unknown(tag)
    return vr in ("SQ", "UI", "UN") or not getattr(raw, "is_raw", False)


def dictionary_vr_or_unknown(tag) -> str:
    """VR from the data dictionary (implicit VR files carry none)."""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _apply(ds: Dataset, element, action: str, walk: _Walk, *, clean_content: bool, listed: bool) -> None:
    profile = walk.profile
    if action == REMOVE:
        del ds[element.tag]
    elif action == EMPTY:
        actions.empty(element)
    elif action == DUMMY:
        actions.dummy(element, walk.key)
    elif action == REMAP:
        if profile.remap_uids:
            actions.remap(element, walk.key)
    elif action == WALK_REMAP:
        _walk_items(element, walk, clean_content=clean_content)
    elif action == CLEAN:
        if element.VR == "SQ":
            _walk_items(element, walk, clean_content=True)
        elif actions.clean_value(element, key=walk.key, date_policy=profile.date_policy, shift_days=walk.shift_days):
            del ds[element.tag]
    elif action == KEEP:
        _keep(ds, element, walk, clean_content=clean_content, listed=listed)
    else:  # pragma: no cover - a profile bug, never input's fault
        raise ValueError(f"unknown action {action!r}")


def _keep(ds: Dataset, element, walk: _Walk, *, clean_content: bool, listed: bool) -> None:
    profile = walk.profile
    vr = element.VR
    if vr == "SQ":
        _walk_items(element, walk, clean_content=clean_content)
        return
    if vr == "UI":
        if profile.remap_uids:
            actions.remap(element, walk.key, listed=False)
        return
    if profile.sanitize_by_vr:
        # Strict's defence in depth: an allowed attribute still cannot carry
        # a person's name, an age, a full date or a time of day.
        if vr in ("PN", "AS", "TM"):
            del ds[element.tag]
        elif vr in ("DA", "DT"):
            actions.clean_dates(element, policy="year", shift_days=0)
        return
    if clean_content and not listed and vr != "CS" and actions.CLEAN_BY_VR.get(vr, "remove") != "keep":
        # Inside cleaned structured content or graphics, what the table does not name (TextValue,
        # CodeMeaning, UnformattedTextValue, dates ...) is cleaned by the same rules; CS values
        # are the enumerations that hold the items together (ValueType, RelationshipType).
        if actions.clean_value(element, key=walk.key, date_policy=profile.date_policy, shift_days=walk.shift_days):
            del ds[element.tag]


def _walk_items(element, walk: _Walk, *, clean_content: bool) -> None:
    for item in element.value or ():
        _walk_dataset(item, walk, clean_content=clean_content)


def _apply_private_policy(ds: Dataset, private_tags: list, walk: _Walk, *, clean_content: bool) -> None:
    policy = walk.profile.private_policy
    if policy == "keep":
        for tag in private_tags:
            element = ds[tag]
            if element.VR == "SQ":
                _walk_items(element, walk, clean_content=clean_content)
        return
    kept_creators = set()
    kept = set()
    if policy == "safe":
        for tag in private_tags:
            if tag.element < 0x1000:
                continue  # creators are decided once their block is known
            creator_tag = (tag.group << 16) | (tag.element >> 8)
            creator = ds.get(creator_tag)
            name = str(creator.value).strip() if creator is not None else ""
            if (name, tag.group, tag.element & 0xFF) in SAFE_PRIVATE_ATTRIBUTES:
                kept.add(tag)
                kept_creators.add(creator_tag)
    for tag in private_tags:
        if tag not in kept and tag not in kept_creators:
            del ds[tag]
