"""Keyed, consistent UID remapping.

A new UID is derived from the original with HMAC-SHA256 under the job's key:
the same key maps a study's files, and the same study sent again later, to the
same new UIDs, while nobody holding an original UID (but not the key) can
compute the new one -- which an unkeyed hash or a shared lookup table would
allow.
"""

from __future__ import annotations

import hashlib
import hmac

try:  # pydicom's registry of standard UIDs (SOP classes, transfer syntaxes, ...)
    from pydicom._uid_dict import UID_dictionary as _REGISTERED_UIDS
except ImportError:  # pragma: no cover - a future pydicom may move it
    _REGISTERED_UIDS = {}

# Keywords whose values name a class or an encoding, never an instance.
_CLASS_UID_SUFFIXES = ("ClassUID", "TransferSyntaxUID")
_CLASS_UID_KEYWORDS = frozenset({
    "TransferSyntaxUID",
    "CodingSchemeUID",
    "ContextGroupExtensionCreatorUID",
    "ContextUID",
    "MappingResourceUID",
    "TemplateExtensionCreatorUID",
    "ImplementationClassUID",
})


def remap_uid(uid: str, key: bytes) -> str:
    """Return the ``2.25.`` UID that stands for ``uid`` under ``key``.

    Parameters
    ----------
    uid : str
        The original UID (trailing NUL/space padding is ignored).
    key : bytes
        The job's secret; the same key always gives the same mapping.

    Returns
    -------
    str
        ``"2.25."`` followed by the decimal value of the first 128 bits of
        HMAC-SHA256(key, uid): at most 44 characters, a valid UID.
    """
    if not key:
        raise ValueError("remap_uid needs a non-empty key")
    digest = hmac.new(key, uid.strip("\x00 ").encode("ascii", "replace"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def is_class_uid(uid: str, keyword: str = "") -> bool:
    """True when ``uid`` names a class or encoding and so must be kept as it is.

    A UID is kept when its attribute says it is a class (``SOPClassUID``,
    ``ReferencedSOPClassUID``, transfer syntax, coding scheme ...) or when the
    value is registered in the standard (PS3.6 Annex A).  Everything else is
    an instance UID and is remapped.
    """
    if keyword in _CLASS_UID_KEYWORDS or keyword.endswith(_CLASS_UID_SUFFIXES):
        return True
    return uid.strip("\x00 ") in _REGISTERED_UIDS
