"""De-identification profiles: each is a rule table plus a few overrides.

Three families, built from the same generated table (:mod:`table_e1_1`):

``strict_profile()``
    What the portal applies to everything a patient receives.  An
    *allow-list*: the attributes in :data:`STRICT_ALLOWED_KEYWORDS` stay,
    every other attribute -- including ones nobody has heard of -- goes.
    Identity is replaced (``ANONYMOUS`` / ``000000`` / sex ``O`` / birth date
    reduced to the decade), dates keep the year, times go, and the burned-in
    text in ultrasound pixels is cleaned.

``basic_profile(options)``
    PS3.15 Annex E Basic Application Level Confidentiality Profile with any
    of its options, as dcm4chee's ``deidentify:`` coercion does.  Attributes
    the table does not list are kept, as the standard allows.

``custom_profile(...)``
    The toggles of the clinic's previous Orthanc-based tool, expressed as a
    basic profile with overrides.

How the table's compound codes are resolved (PS3.15 leaves the choice to
the de-identifier, depending on the attribute's Type in the IOD; we cannot
look the Type up per SOP class, so we always keep the attribute *present*
and carry *no original content*, which satisfies Type 1 and Type 2 alike and
is never less private than removal):

====== ======== ===========================================================
code   resolved why
====== ======== ===========================================================
X/Z    Z        Type 2 stays present and empty; nothing of the value left
X/D    D        a dummy satisfies Type 1; it carries nothing of the value
Z/D    D        as above
X/Z/D  D        as above
X/Z/U* U*       the sequence stays, every UID in it is remapped and every
                other attribute in its items goes through the same table
====== ======== ===========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydicom.datadict import tag_for_keyword

from .options import BASIC_PROFILE_CODE, CLEAN_PIXEL_DATA_CODE, OPTION_CODES, Option
from .table_e1_1 import EDITION, ROWS

# Resolved action codes used by the engine (see actions.py for their effect).
KEEP, REMOVE, EMPTY, DUMMY, REMAP, CLEAN, WALK_REMAP = "K", "X", "Z", "D", "U", "C", "U*"

COMPOUND_RESOLUTION = {"X/Z": EMPTY, "X/D": DUMMY, "Z/D": DUMMY, "X/Z/D": DUMMY, "X/Z/U*": WALK_REMAP}

# --- strict: the allow-list, declared once -------------------------------------------------

STRICT_ALLOWED_KEYWORDS = frozenset({
    # image pixel module and palettes
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PixelData", "PlanarConfiguration",
    "PixelAspectRatio", "SmallestImagePixelValue", "LargestImagePixelValue",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID", "ICCProfile",
    "ColorSpace", "PixelPaddingValue", "PixelPaddingRangeLimit", "LossyImageCompression",
    "LossyImageCompressionRatio", "LossyImageCompressionMethod",
    # frame count and timing (multi-frame and cine modules)
    "NumberOfFrames", "FrameIncrementPointer", "FrameTime", "FrameTimeVector", "CineRate",
    "RecommendedDisplayFrameRate", "StartTrim", "StopTrim", "PreferredPlaybackSequencing",
    "FrameDelay", "ActualFrameDuration",
    # ultrasound region calibration
    "SequenceOfUltrasoundRegions", "RegionSpatialFormat", "RegionDataType", "RegionFlags",
    "RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1",
    "ReferencePixelX0", "ReferencePixelY0", "PhysicalUnitsXDirection", "PhysicalUnitsYDirection",
    "ReferencePixelPhysicalValueX", "ReferencePixelPhysicalValueY", "PhysicalDeltaX",
    "PhysicalDeltaY", "TransducerFrequency", "PulseRepetitionFrequency", "DopplerCorrectionAngle",
    "SteeringAngle", "DopplerSampleVolumeXPosition", "DopplerSampleVolumeYPosition",
    "TMLinePositionX0", "TMLinePositionY0", "TMLinePositionX1", "TMLinePositionY1",
    "PixelComponentOrganization", "PixelComponentMask", "PixelComponentRangeStart",
    "PixelComponentRangeStop", "PixelComponentPhysicalUnits", "PixelComponentDataType",
    "NumberOfTableBreakPoints", "TableOfXBreakPoints", "TableOfYBreakPoints",
    "NumberOfTableEntries", "TableOfPixelValues", "TableOfParameterValues",
    # modality, SOP class, identity of the instance (UIDs are remapped)
    "Modality", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "SpecificCharacterSet", "SeriesNumber", "InstanceNumber",
    "PatientOrientation", "ReferencedImageSequence", "SourceImageSequence",
    "ReferencedSOPClassUID", "ReferencedSOPInstanceUID", "ReferencedFrameNumber",
    # VOI LUT and rescale (modality LUT)
    "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction",
    "VOILUTSequence", "LUTDescriptor", "LUTExplanation", "LUTData", "RescaleIntercept",
    "RescaleSlope", "RescaleType", "ModalityLUTSequence", "ModalityLUTType",
    # image type and laterality
    "ImageType", "Laterality", "ImageLaterality",
})

# Attributes strict keeps present but rewrites (the engine's post-step sets
# patient identity; these rules handle the rest wherever they occur).
STRICT_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime")
# PS3.3 Type 2: must exist, so emptied rather than removed.
STRICT_EMPTIED_KEYWORDS = (
    "StudyTime", "ContentTime", "AccessionNumber", "StudyID", "ReferringPhysicianName", "Manufacturer",
)
STRICT_TYPE2_ADDED = ("StudyDate", "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName")

# Descriptions the custom profile's "study and series descriptions" toggle keeps.
DESCRIPTION_KEYWORDS = ("StudyDescription", "SeriesDescription")

# SOP classes whose payload cannot be cleaned attribute by attribute: always discarded.
OPAQUE_PAYLOAD_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.2",  # Encapsulated CDA
    "1.2.840.10008.5.1.4.1.1.104.3",  # Encapsulated STL
    "1.2.840.10008.5.1.4.1.1.104.4",  # Encapsulated OBJ
    "1.2.840.10008.5.1.4.1.1.104.5",  # Encapsulated MTL
    "1.2.840.10008.5.1.4.1.1.66",     # Raw Data
})
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
STRUCTURED_REPORT_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


@dataclass(frozen=True)
class PatientIdentity:
    """How PatientName and PatientID are replaced.

    ``mode`` is ``"table"`` (follow the rule table: basic empties both),
    ``"fixed"`` (``name`` / ``patient_id`` for everyone), ``"keyed"`` (a
    pseudonym per original patient, derived with the job key so the same
    patient gets the same pseudonym in every job) or ``"given"`` (looked up
    by original PatientID in ``given``, falling back to keyed).
    """

    mode: str = "table"
    name: str = "ANONYMOUS"
    patient_id: str = "000000"
    given: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A de-identification profile: a rule table plus overrides, as data.

    Attributes
    ----------
    name : str
        ``strict``, ``basic`` or ``custom``.
    rules : Mapping[int, str]
        Resolved action per exact tag.
    masked_rules : tuple
        ``(value, mask, action)`` for repeating groups (curves, overlays).
    unlisted_action : str
        Action for public attributes no rule names: ``X`` for an allow-list,
        ``K`` for the basic profile.
    private_policy : str
        ``remove``, ``safe`` (Retain Safe Private) or ``keep``.
    options : frozenset[Option]
        The Annex E options in force (recorded in the method code sequence).
    date_policy : str
        What ``C`` does to DA/DT values: ``year`` (year only) or ``shift``
        (keyed per-patient shift).
    sanitize_by_vr : bool
        Strict's defence in depth: every *kept* value is also reduced by VR
        (PN and AS go, DA/DT keep the year, TM goes unless a rule empties it).
    remap_uids : bool
        Remap every instance UID, listed or not (off only with Retain UIDs).
    identity : PatientIdentity
        How patient name and ID are replaced.
    birth_date : str
        ``table`` (follow the rules), ``decade``, ``placeholder``
        (``19000101``) or ``keep``.
    clean_pixels : bool
        Black out burned-in text (regions or vendor rules).
    keep_structured : bool
        Write SR, KO and PR objects (header de-identified) instead of
        discarding them; strict discards every non-image object.
    discard_secondary_capture : bool
        Leave Secondary Capture images out (custom "SC/SR removal").
    method_text : str
        DeidentificationMethod value.
    """

    name: str
    rules: Mapping[int, str]
    masked_rules: tuple[tuple[int, int, str], ...]
    unlisted_action: str
    private_policy: str
    options: frozenset[Option]
    date_policy: str
    sanitize_by_vr: bool
    remap_uids: bool
    identity: PatientIdentity
    birth_date: str
    clean_pixels: bool
    keep_structured: bool
    discard_secondary_capture: bool
    method_text: str
    added_empty: tuple[str, ...] = ()

    def action_for(self, tag: int) -> str:
        """Return the resolved action for a public tag."""
        action = self.rules.get(tag)
        if action is not None:
            return action
        for value, mask, masked_action in self.masked_rules:
            if tag & mask == value:
                return masked_action
        return self.unlisted_action

    def method_codes(self, *, pixels_cleaned: bool) -> list[tuple[str, str]]:
        """CID 7050 codes that describe what this profile did to one instance."""
        codes = [BASIC_PROFILE_CODE]
        codes += [OPTION_CODES[o] for o in sorted(self.options, key=lambda o: OPTION_CODES[o][0])
                  if o is not Option.CLEAN_PIXEL_DATA]
        if pixels_cleaned:
            codes.append(CLEAN_PIXEL_DATA_CODE)
        return sorted(set(codes))

    @property
    def dates_modified(self) -> bool:
        """True when the dates written are altered rather than removed or kept."""
        return self.date_policy in ("year", "shift") and Option.RETAIN_FULL_DATES not in self.options


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:  # a typo in the tables above must not pass silently
        raise KeyError(f"unknown DICOM keyword {keyword!r}")
    return tag


def _resolve(code: str) -> str:
    return COMPOUND_RESOLUTION.get(code, code)


def _table_rules(options: frozenset[Option]) -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    """Apply the options to Table E.1-1 and resolve compound codes.

    When two options name the same attribute, the one that keeps more wins
    (K over C), as dcm4che does: the operator asked for both.
    """
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    for value, mask, _name, basic, option_actions in ROWS:
        action = _resolve(basic)
        chosen = [option_actions[o.value] for o in options if o.value in option_actions]
        if chosen:
            action = KEEP if KEEP in chosen else CLEAN
        if mask == 0xFFFFFFFF:
            exact[value] = action
        elif mask != 0x00010000:  # private attributes are governed by private_policy
            masked.append((value, mask, action))
    # Curves and overlays: the whole repeating group goes with its data, even
    # under Clean Graphics -- a bitmap cannot be proven free of text.
    masked = [(v, m, REMOVE) for v, m, _ in masked]
    masked.append((0x60000000, 0xFF010000, REMOVE))
    masked.append((0x50000000, 0xFF010000, REMOVE))
    return exact, masked


def basic_profile(options: Iterable[Option | str] = ()) -> Profile:
    """PS3.15 Annex E Basic Profile with the given options.

    Parameters
    ----------
    options : iterable of Option or str
        dcm4chee option names (``"RetainUIDsOption"`` ...) or :class:`Option`.

    Returns
    -------
    Profile
    """
    chosen = frozenset(o if isinstance(o, Option) else Option.parse(o) for o in options)
    rules, masked = _table_rules(chosen)
    if Option.RETAIN_FULL_DATES in chosen:
        date_policy = "keep"
    elif Option.RETAIN_MODIFIED_DATES in chosen:
        date_policy = "shift"
    else:
        date_policy = "remove"
    names = "+".join(sorted(o.value.removesuffix("Option") for o in chosen)) or "no options"
    return Profile(
        name="basic",
        rules=rules,
        masked_rules=tuple(masked),
        unlisted_action=KEEP,
        private_policy="safe" if Option.RETAIN_SAFE_PRIVATE in chosen else "remove",
        options=chosen,
        date_policy=date_policy,
        sanitize_by_vr=False,
        remap_uids=Option.RETAIN_UIDS not in chosen,
        identity=PatientIdentity(mode="table"),
        birth_date="table",
        clean_pixels=Option.CLEAN_PIXEL_DATA in chosen,
        keep_structured=True,
        discard_secondary_capture=False,
        method_text=f"PS3.15-{EDITION} E.1-1 Basic, {names}"[:64],
    )


def strict_profile() -> Profile:
    """The portal's strict allow-list profile (see the module docstring)."""
    rules: dict[int, str] = {_tag(k): KEEP for k in STRICT_ALLOWED_KEYWORDS}
    rules.update({_tag(k): CLEAN for k in STRICT_DATE_KEYWORDS})
    rules.update({_tag(k): EMPTY for k in STRICT_EMPTIED_KEYWORDS})
    # Identity attributes go in the walk; the engine's post-step writes the
    # replacement values at the top level only.
    for keyword in ("PatientName", "PatientID", "PatientSex", "PatientBirthDate"):
        rules[_tag(keyword)] = REMOVE
    return Profile(
        name="strict",
        rules=rules,
        masked_rules=(),
        unlisted_action=REMOVE,
        private_policy="remove",
        # Strict removes descriptors and keeps year-only dates: it is at least
        # the Basic Profile with Clean Descriptors and Modified Dates.
        options=frozenset({Option.CLEAN_DESCRIPTORS, Option.RETAIN_MODIFIED_DATES, Option.CLEAN_PIXEL_DATA}),
        date_policy="year",
        sanitize_by_vr=True,
        remap_uids=True,
        identity=PatientIdentity(mode="fixed"),
        birth_date="decade",
        clean_pixels=True,
        keep_structured=False,
        discard_secondary_capture=False,
        method_text="PORTAL STRICT allow-list (PS3.15-%s Annex E)" % EDITION,
        added_empty=STRICT_TYPE2_ADDED,
    )


def custom_profile(
    *,
    keep_body_characteristics: bool = False,
    keep_full_dates: bool = False,
    keep_birth_date: bool = False,
    keep_private_tags: bool = False,
    remove_secondary_capture_and_sr: bool = True,
    keep_descriptions: bool = False,
    patient_identities: Mapping[str, tuple[str, str]] | None = None,
    options: Iterable[Option | str] = (),
) -> Profile:
    """The clinic's former Orthanc tool, as a basic profile with overrides.

    Parameters
    ----------
    keep_body_characteristics : bool
        Keep sex, age, size, weight ... (Retain Patient Characteristics).
    keep_full_dates : bool
        Keep dates and times as they are (Retain Full Dates).
    keep_birth_date : bool
        Keep PatientBirthDate; otherwise it becomes ``19000101``.
    keep_private_tags : bool
        Keep every private attribute (their sequences are still walked).
    remove_secondary_capture_and_sr : bool
        Leave Secondary Capture images and structured reports out.
    keep_descriptions : bool
        Keep StudyDescription and SeriesDescription.
    patient_identities : mapping, optional
        Original PatientID -> ``(new name, new ID)``.  Patients not listed get
        a keyed pseudonym (``ANON`` + 10 hex digits), the same in every job
        run with the same key.
    options : iterable
        Further Annex E options.

    Returns
    -------
    Profile
    """
    chosen = {o if isinstance(o, Option) else Option.parse(o) for o in options}
    if keep_body_characteristics:
        chosen.add(Option.RETAIN_PATIENT_CHARACTERISTICS)
    if keep_full_dates:
        chosen.add(Option.RETAIN_FULL_DATES)
    base = basic_profile(chosen)
    rules = dict(base.rules)
    for keyword in DESCRIPTION_KEYWORDS:
        rules[_tag(keyword)] = KEEP if keep_descriptions else REMOVE
    rules[_tag("PatientBirthDate")] = KEEP
    return Profile(
        name="custom",
        rules=rules,
        masked_rules=base.masked_rules,
        unlisted_action=KEEP,
        private_policy="keep" if keep_private_tags else base.private_policy,
        options=base.options,
        date_policy=base.date_policy,
        sanitize_by_vr=False,
        remap_uids=base.remap_uids,
        identity=PatientIdentity(mode="given", given=dict(patient_identities or {})),
        birth_date="keep" if keep_birth_date else "placeholder",
        clean_pixels=base.clean_pixels,
        keep_structured=not remove_secondary_capture_and_sr,
        discard_secondary_capture=remove_secondary_capture_and_sr,
        method_text=("PORTAL CUSTOM " + base.method_text)[:64],
    )


def profile_named(name: str, options: Iterable[Option | str] = ()) -> Profile:
    """Return ``strict`` or ``basic`` (with options) by name, as the CLI selects them."""
    if name == "strict":
        if list(options):
            raise ValueError("the strict profile takes no options")
        return strict_profile()
    if name == "basic":
        return basic_profile(options)
    raise ValueError(f"unknown profile {name!r}; choose strict or basic")
