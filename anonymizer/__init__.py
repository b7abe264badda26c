"""DICOM de-identification for the portal, as a library (no Django here).

Public API::

    from anonymizer import (anonymize_file, anonymize_dataset, remap_uid,
                            strict_profile, basic_profile, custom_profile,
                            Option, AnonymizationResult, AnonymizationError)

    result = anonymize_file(src, dst, profile=strict_profile(), key=secret)
    if result.status == "written" and result.shareable: ...

Profiles are data (:mod:`anonymizer.profiles`, built on the generated
PS3.15 Table E.1-1 in :mod:`anonymizer.table_e1_1`); the engine
(:mod:`anonymizer.engine`) walks every element and sequence item; pixel
cleaning (:mod:`anonymizer.pixels`) blacks out burned-in text frame by
frame.  See :mod:`anonymizer.anonymize` for the outcomes and the policy for
images whose pixels cannot be verified.  Run as ``python -m anonymizer``.
"""

from .anonymize import AnonymizationResult, anonymize_dataset, anonymize_file
from .errors import AnonymizationError
from .options import Option
from .profiles import Profile, basic_profile, custom_profile, profile_named, strict_profile
from .uids import remap_uid

__all__ = [
    "AnonymizationError",
    "AnonymizationResult",
    "Option",
    "Profile",
    "anonymize_dataset",
    "anonymize_file",
    "basic_profile",
    "custom_profile",
    "profile_named",
    "remap_uid",
    "strict_profile",
]
