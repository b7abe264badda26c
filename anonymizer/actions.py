"""What each action code does to one data element.

====== ==================================================================
code   effect
====== ==================================================================
K      keep (sequences are still walked item by item)
X      remove
Z      zero length (an empty sequence for SQ)
D      a dummy value valid for the VR (:data:`DUMMY_BY_VR`); for SQ a single
       empty item, since no original item content can be trusted
U      remap every UID value with the keyed HMAC
U*     keep the sequence, walk its items (their UIDs are remapped by the U
       rules of the table)
C      clean (PS3.15 E.3.10: "replace with values of similar meaning known
       not to contain identifying information"), per VR in
       :data:`CLEAN_BY_VR`: free text becomes the fixed dummy
       :data:`CLEANED_TEXT` (free text cannot be proven clean, so none of
       it is kept), dates follow the profile's date policy, AE titles
       become a keyed pseudonym, person names and URLs are emptied, binary
       values (a maker note, a signed timestamp) are removed; sequences are
       kept and walked in "clean content" mode, where the same rules apply
       to the free text the table does not name (TextValue, CodeMeaning ...)
====== ==================================================================
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from . import dates
from .uids import is_class_uid, remap_uid

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "CS"})

# C on free text: one fixed value, valid for every text VR (SH holds 16 characters, CS upper case).
CLEANED_TEXT = "CLEANED"

# What C does, per VR. "text": CLEANED_TEXT; "dates": the date policy; "pseudonym": keyed AE
# title; "empty": zero length; "remap": keyed UIDs; "remove": the element goes; "keep": numbers,
# which hold no free text.
CLEAN_BY_VR = {
    **{vr: "text" for vr in TEXT_VRS},
    "DA": "dates", "DT": "dates", "TM": "dates",
    "AE": "pseudonym", "PN": "empty", "UR": "empty", "UI": "remap",
    **{vr: "remove" for vr in ("OB", "OD", "OF", "OL", "OV", "OW", "UN")},
    **{vr: "keep" for vr in ("AS", "AT", "DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV")},
}
# Attributes whose C is removal whatever their VR: a dummy would break their defined format.
CLEAN_BY_REMOVAL = frozenset({
    0x00080201,  # Timezone Offset From UTC (SH, "&ZZXX"): goes with the modified dates
})
STRING_VRS = TEXT_VRS | {"PN", "DA", "DT", "TM", "AE", "UI", "AS", "UR", "DS", "IS"}
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

# PS3.15 E.3: "a non-zero length value that may be a dummy value and consistent with the VR".
DUMMY_BY_VR: dict[str, object] = {
    "AE": "ANONYMOUS", "AS": "000Y", "CS": "ANONYMOUS", "DA": "19000101", "DS": "0",
    "DT": "19000101000000", "IS": "0", "LO": "ANONYMOUS", "LT": "ANONYMOUS", "PN": "ANONYMOUS",
    "SH": "ANONYMOUS", "ST": "ANONYMOUS", "TM": "000000", "UC": "ANONYMOUS", "UT": "ANONYMOUS",
    "UR": "urn:anonymous", "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "SV": 0, "UL": 0, "US": 0,
    "UV": 0, "AT": 0, "OB": b"\x00\x00", "OD": b"\x00" * 8, "OF": b"\x00" * 4,
    "OL": b"\x00" * 4, "OV": b"\x00" * 8, "OW": b"\x00\x00", "UN": b"\x00\x00",
}


def values_of(element: DataElement) -> list:
    """Return the element's values as a list (empty for an empty element)."""
    value = element.value
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue):
        return list(value)
    return [value]


def set_values(element: DataElement, values: list) -> None:
    """Store ``values`` back, as a single value when there is one."""
    if not values:
        element.value = "" if element.VR in STRING_VRS else None
    elif len(values) == 1:
        element.value = values[0]
    else:
        element.value = values


def empty(element: DataElement) -> None:
    """Z: zero length, an empty sequence for SQ."""
    if element.VR == "SQ":
        element.value = Sequence()
    elif element.VR in BINARY_VRS:
        element.value = b""
    else:
        set_values(element, [])


def dummy(element: DataElement, key: bytes) -> None:
    """D: a dummy value valid for the VR."""
    if element.VR == "SQ":
        element.value = Sequence([Dataset()])
    elif element.VR == "UI":
        remap(element, key)
    else:
        element.value = DUMMY_BY_VR.get(element.VR.split(" ")[0], b"\x00\x00")


def remap(element: DataElement, key: bytes, *, listed: bool = True) -> None:
    """U: replace every instance UID value by its keyed ``2.25.`` form.

    A UID registered in the standard is kept.  For an attribute the table
    lists as U that is all: the table has decided it identifies something
    (ManufacturerDeviceClassUID names a device model).  For an attribute the
    table does not list, a keyword naming a class (``...ClassUID``) keeps
    the value too.
    """
    keyword = "" if listed else element.keyword
    set_values(element, [
        str(v) if is_class_uid(str(v), keyword) else remap_uid(str(v), key)
        for v in values_of(element) if str(v).strip("\x00 ")
    ])


def pseudonym_ae(value: str, key: bytes) -> str:
    """A keyed 16-character AE title standing for ``value`` (device identity cleaned)."""
    digest = hmac.new(key, b"ae:" + value.strip().encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    return "AE" + digest[:14].upper()


def clean_dates(element: DataElement, *, policy: str, shift_days: int) -> None:
    """C on a DA/DT/TM: year only or keyed shift, per the profile's date policy; emptied otherwise."""
    vr = element.VR
    if policy == "keep":
        return  # Retain Full Dates
    if policy not in ("year", "shift"):
        # No date option in force: a date met inside cleaned content carries nothing of its value.
        empty(element)
        return
    out = []
    for value in values_of(element):
        text = str(value)
        if vr == "DA":
            out.append(dates.year_only_date(text) if policy == "year" else dates.shift_date(text, shift_days))
        elif vr == "DT":
            out.append(dates.year_only_datetime(text) if policy == "year" else dates.shift_datetime(text, shift_days))
        else:  # TM: a shift moves whole days, so times of day are unchanged
            out.append("" if policy == "year" else text)
    set_values(element, [v for v in out if v])


def clean_value(element: DataElement, *, key: bytes, date_policy: str, shift_days: int) -> bool:
    """C on a non-sequence element, per :data:`CLEAN_BY_VR`.

    Returns
    -------
    bool
        True when the element must be removed (the caller owns the dataset).
    """
    if element.tag in CLEAN_BY_REMOVAL:
        return True
    how = CLEAN_BY_VR.get(element.VR.split(" ")[0], "remove")  # an ambiguous or unknown VR: removed
    if how == "text":
        set_values(element, [CLEANED_TEXT] if values_of(element) else [])
    elif how == "dates":
        clean_dates(element, policy=date_policy, shift_days=shift_days)
    elif how == "pseudonym":
        set_values(element, [pseudonym_ae(str(v), key) for v in values_of(element)])
    elif how == "empty":
        empty(element)
    elif how == "remap":
        remap(element, key)
    return how == "remove"
