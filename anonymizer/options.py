"""The PS3.15 Annex E options, named as dcm4chee's ``deidentify:`` coercions.

The names are the ones operators type on the command line
(``--option RetainUIDsOption``) and the keys of the option columns in
:mod:`anonymizer.table_e1_1`.
"""

from __future__ import annotations

import enum


class Option(str, enum.Enum):
    """An option of the Basic Application Level Confidentiality Profile."""

    RETAIN_SAFE_PRIVATE = "RetainSafePrivateOption"
    RETAIN_UIDS = "RetainUIDsOption"
    RETAIN_DEVICE_IDENTITY = "RetainDeviceIdentityOption"
    RETAIN_INSTITUTION_IDENTITY = "RetainInstitutionIdentityOption"
    RETAIN_PATIENT_CHARACTERISTICS = "RetainPatientCharacteristicsOption"
    RETAIN_FULL_DATES = "RetainLongitudinalTemporalInformationFullDatesOption"
    RETAIN_MODIFIED_DATES = "RetainLongitudinalTemporalInformationModifiedDatesOption"
    CLEAN_DESCRIPTORS = "CleanDescriptorsOption"
    CLEAN_STRUCTURED_CONTENT = "CleanStructuredContentOption"
    CLEAN_GRAPHICS = "CleanGraphicsOption"
    CLEAN_PIXEL_DATA = "CleanPixelDataOption"

    @classmethod
    def parse(cls, name: str) -> "Option":
        """Return the option called ``name`` (dcm4chee spelling); ValueError if unknown."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(o.value for o in cls)
            raise ValueError(f"unknown option {name!r}; known options: {known}") from None


# CID 7050 De-identification Method codes (scheme DCM), recorded in
# DeidentificationMethodCodeSequence so a receiver knows what was done.
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXEL_DATA_CODE = ("113101", "Clean Pixel Data Option")
CLEAN_RECOGNIZABLE_FEATURES_CODE = ("113102", "Clean Recognizable Visual Features Option")

OPTION_CODES = {
    Option.CLEAN_PIXEL_DATA: CLEAN_PIXEL_DATA_CODE,
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_FULL_DATES: ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    Option.RETAIN_MODIFIED_DATES: ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}
