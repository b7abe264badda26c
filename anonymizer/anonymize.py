"""Anonymize one file or one in-memory dataset: classify, de-identify, clean, write.

Outcomes (:attr:`AnonymizationResult.status`):

``written``
    The anonymized instance was written (files: atomically, tmp + rename).
``discarded``
    Deliberately left out, with a reason: not DICOM, a DICOMDIR, a
    non-image object (SR, encapsulated PDF, key objects, presentation
    states, raw data) under a profile that does not keep them.
``rejected``
    Unreadable or malformed (truncated, no file meta, wrong VR, bad
    length, a codestream the decoder refuses ...), with a reason; nothing
    is written.  Only the input's own faults end here: pydicom's reader or
    a decoder failing on it, or a value our checks refuse.
``failed``
    A defect of this code (an exception nobody anticipated): logged with
    its stack and a reference, never reported as bad input; the reason is a
    plain sentence with that reference (:mod:`anonymizer.defects`).

Pixel cleaning (profiles that clean pixels, the strict one among them):
everything outside the ultrasound regions (else a vendor rule's boxes) is
blacked out, then text detection runs over the kept area (the whole frame
when neither applies) and blacks out every text box the policy does not
allow (:mod:`anonymizer.pixels.text_policy`).  The verification gate detects
again on the output pixels: only then is the instance ``pixels_verified``,
BurnedInAnnotation ``NO`` and Clean Pixel Data recorded.  Otherwise the
cleaned instance is still written, BurnedInAnnotation is ``YES`` (never
``NO``), and the reason says why; the share pipeline leaves it out of a
patient share unless staff accept it (``accept_unverified=True``, reflected
in ``shareable``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import UID

from .defects import defect_sentence, library_words, raised_while_parsing, report_defect
from .engine import HeaderChange, deidentify_header, record_method
from .errors import AnonymizationError
from .io import (
    NotDicomFile,
    SourceInstance,
    build_file_meta,
    convert_raw_elements,
    read_instance,
    swap_word_values_to_little_endian,
    take_sop_uids_from_meta,
    write_atomically,
    write_dataset_with_pixels,
    write_into_folder,
)
from .pixels import (
    CleanedPixels, TextEngineUnavailable, TextVerdict, clean_frames, detect_burned_in_text, header_identifiers,
    plan_pixel_cleaning, rewrap_unverified_video, whole_frame_plan,
)
from .pixels.decoding import decoded_frames, read_pixel_attributes
from .pixels.stream import copy_pixel_element, iter_encapsulated_frames, write_encapsulated_pixel_data, write_native_pixel_data
from .video import VideoBitstream, video_syntax, write_video_pixel_data
from .profiles import OPAQUE_PAYLOAD_CLASSES, SECONDARY_CAPTURE_PREFIX, STRUCTURED_REPORT_PREFIX, Profile

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
# Without regions or a vendor rule, text detection cleans the whole frame of 8- and 16-bit images
# (every ultrasound encoding); 1-bit and 32-bit objects (masks, dose grids, float-like secondary
# captures) stay unverified, never claimed clean, as before.
WHOLE_FRAME_BITS = (8, 16)
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"

# Attributes the pixel codecs need, captured before the walk can touch them.
PIXEL_MODULE_KEYWORDS = (
    "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored",
    "HighBit", "PixelRepresentation", "PlanarConfiguration", "NumberOfFrames",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "FrameTime",
)


@dataclass
class AnonymizationResult:
    """What happened to one input.

    Attributes
    ----------
    source : str
        The input path (or ``"<dataset>"``).
    status : str
        ``written``, ``discarded``, ``rejected`` (bad input) or ``failed``
        (a defect of this code).
    reason : str
        Why, in words an operator understands; for ``written``, notes such
        as how the pixels were cleaned; for ``failed``, a sentence with the
        defect's reference.
    reference : str
        For ``failed``: the reference of the logged defect.
    pixels_verified : bool
        True only when the verification gate found no text outside the
        allow-list in the output pixels.  False for non-images and for
        header-only profiles.
    output : str
        Where the anonymized file was written ("" otherwise).
    original_patient_name, original_patient_id, original_study_uid, original_sop_uid : str
        Before (PHI: only for the operator's report).
    new_patient_name, new_patient_id, new_study_uid, new_sop_uid : str
        After.
    accepted_unverified : bool
        Staff accepted unverified pixels for this run.
    pixel_rule : str
        What decided the kept area (``"regions + text detection"`` ...); "" when pixels were not cleaned.
    text_boxes_found, text_boxes_blacked_out, text_boxes_kept : int
        Text boxes detected, blacked out, and kept by the allow-list (never their text).
    remaining_text_boxes : tuple
        ``(x0, y0, x1, y1)`` boxes still detected in the output, for staff review.
    unverified_reason : str
        Why the pixels are not verified ("" when they are, or were not cleaned).
    text_summary : str
        The deciding rule and box counts in one line, for reports and exclusion records.
    dataset : Dataset | None
        The anonymized dataset (``anonymize_dataset`` only).
    """

    source: str
    status: str
    reason: str = ""
    reference: str = ""
    pixels_verified: bool = False
    output: str = ""
    original_patient_name: str = ""
    original_patient_id: str = ""
    original_study_uid: str = ""
    original_sop_uid: str = ""
    new_patient_name: str = ""
    new_patient_id: str = ""
    new_study_uid: str = ""
    new_sop_uid: str = ""
    accepted_unverified: bool = False
    pixel_cleaning_required: bool = False
    pixel_rule: str = ""
    text_boxes_found: int = 0
    text_boxes_blacked_out: int = 0
    text_boxes_kept: int = 0
    remaining_text_boxes: tuple = ()
    unverified_reason: str = ""
    text_summary: str = ""
    dataset: Dataset | None = field(default=None, repr=False)

    @property
    def shareable(self) -> bool:
        """Written, and either its pixels are verified, not required to be, or staff accepted them."""
        return self.status == "written" and (
            self.pixels_verified or not self.pixel_cleaning_required or self.accepted_unverified)


def _as_key(key: bytes | str) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ValueError("a non-empty key (bytes) is required: it makes UID remapping consistent and secret")
    return bytes(key)


def _discard_reason(ds: Dataset, has_pixels: bool, profile: Profile) -> str | None:
    """Why this instance is left out under ``profile``, or None to process it."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    name = UID(sop_class).name if sop_class else "unknown SOP class"
    if sop_class in OPAQUE_PAYLOAD_CLASSES:
        return f"non-image object ({name}): its payload cannot be de-identified"
    if profile.discard_secondary_capture and (
            sop_class.startswith(SECONDARY_CAPTURE_PREFIX) or sop_class.startswith(STRUCTURED_REPORT_PREFIX)):
        return f"secondary capture or structured report ({name}) left out by the profile"
    if not has_pixels:
        if not profile.keep_structured:
            return f"non-image object ({name})"
        return None
    return None


def _pixel_module(ds: Dataset) -> Dataset:
    module = Dataset()
    for keyword in PIXEL_MODULE_KEYWORDS:
        if keyword in ds:
            module[keyword] = ds[keyword]
    return module


@dataclass
class _Prepared:
    change: HeaderChange
    verdict: TextVerdict | None
    cleaned: CleanedPixels | None
    pixel_cleaning_required: bool


def _prepare(ds: Dataset, *, profile: Profile, key: bytes, has_pixels: bool, transfer_syntax: str,
             encoded_frames, decoded_frames, video_bitstream=None, blackout=()) -> _Prepared:
    """De-identify the header and, where asked, set up pixel cleaning (lazily)."""
    take_sop_uids_from_meta(ds)
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            raise AnonymizationError(f"no {keyword}: not a storable DICOM instance")
    plan = None
    pixel_module = None
    cleaning = has_pixels and profile.clean_pixels
    if cleaning:
        attributes = read_pixel_attributes(ds)
        pixel_module = _pixel_module(ds)
        plan = plan_pixel_cleaning(ds)
        video = video_syntax(transfer_syntax) is not None
        if plan is None and not video and attributes.bits_allocated in WHOLE_FRAME_BITS:
            plan = whole_frame_plan(attributes.rows, attributes.columns)
    if plan is not None and video_syntax(transfer_syntax) is not None:
        # Not done yet (issue 9): video syntaxes are cleaned by regions or a vendor rule in one
        # decode/re-encode pass, without text detection; the rule says so in the report.
        plan = replace(plan, text=TextVerdict(verified=True, reason="", rule=f"{plan.source} (video: no text detection yet)"))
    elif plan is not None:
        # Before the walk: the header's identifiers are what the text must not match.
        plan = detect_burned_in_text(pixel_module, plan, transfer_syntax=transfer_syntax, encoded_frames=encoded_frames,
                                     decoded_frames=decoded_frames, identifiers=header_identifiers(ds), blackout=blackout)
    original_burned_in = ds.get("BurnedInAnnotation")
    change = deidentify_header(ds, profile=profile, key=key)
    cleaned = None
    if plan is not None:
        cleaned = clean_frames(pixel_module, plan, transfer_syntax=transfer_syntax,
                               encoded_frames=encoded_frames, decoded_frames=decoded_frames,
                               video_bitstream=video_bitstream)
        ds.PhotometricInterpretation = cleaned.photometric
        if int(ds.get("SamplesPerPixel", 1)) > 1:
            ds.PlanarConfiguration = 0  # cleaned frames are written colour-by-pixel, whatever the source
        if cleaned.lossy_ratio:
            record_lossy_generation(ds, cleaned.lossy_method, cleaned.lossy_ratio)
        elif cleaned.lossy_method:
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = cleaned.lossy_method
        if cleaned.single_fragment and cleaned.transfer_syntax != transfer_syntax and "StereoPairsPresent" in ds:
            ds.StereoPairsPresent = "NO"  # stereo H.264 re-encoded as its base view (anonymizer.video.syntaxes)
        # The verification gate: NO and Clean Pixel Data only when no disallowed text remains.
        verified = plan.text.verified
        ds.BurnedInAnnotation = "NO" if verified else "YES"
        record_method(ds, profile, pixels_cleaned=verified)
    elif cleaning:
        # Pixels this code cannot write back cleaned: never claim they are clean.
        ds.BurnedInAnnotation = "YES"
        cleaned = rewrap_unverified_video(pixel_module, transfer_syntax=transfer_syntax,
                                          video_bitstream=video_bitstream)
    elif original_burned_in is not None and "BurnedInAnnotation" not in ds and profile.name != "strict":
        ds.BurnedInAnnotation = original_burned_in
    return _Prepared(change, plan.text if plan else None, cleaned, cleaning)


def record_lossy_generation(ds: Dataset, method: str, ratio: str) -> None:
    """Record one more lossy compression, after those the source already lists.

    PS3.3 C.7.6.1.1.5: once lossy, always "01"; Lossy Image Compression Ratio
    and Method list every generation in the order they were applied.  When
    the source's two lists disagree, the ratios (Type 3) are dropped rather
    than paired with the wrong method.
    """
    methods = [str(m) for m in _values(ds.get("LossyImageCompressionMethod"))]
    ratios = [str(r) for r in _values(ds.get("LossyImageCompressionRatio"))]
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = methods + [method]
    if len(ratios) == len(methods):
        ds.LossyImageCompressionRatio = ratios + [ratio]
    elif "LossyImageCompressionRatio" in ds:
        del ds.LossyImageCompressionRatio


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _result_from(source: str, prepared: _Prepared, *, accept_unverified: bool) -> AnonymizationResult:
    change = prepared.change
    verdict = prepared.verdict
    if verdict is not None and verdict.verified:
        reason, verified = f"pixels cleaned and verified ({verdict.summary()})", True
    elif verdict is not None:
        verified = False
        reason = (f"burned-in text NOT verified: {verdict.reason} ({verdict.summary()}); "
                  + ("accepted by staff" if accept_unverified else "excluded from patient shares unless staff accept it"))
    elif prepared.pixel_cleaning_required:
        verified = False
        reason = ("burned-in text NOT verified: no ultrasound regions, no vendor rule, and pixels of this bit depth "
                  "are not searched for text; "
                  + ("accepted by staff" if accept_unverified else "excluded from patient shares unless staff accept it"))
    else:
        reason, verified = "header de-identified; pixels not examined by this profile", False
    return AnonymizationResult(
        source=source, status="written", reason=reason, pixels_verified=verified,
        original_patient_name=change.original_patient_name, original_patient_id=change.original_patient_id,
        original_study_uid=change.original_study_uid, original_sop_uid=change.original_sop_uid,
        new_patient_name=change.new_patient_name, new_patient_id=change.new_patient_id,
        new_study_uid=change.new_study_uid, new_sop_uid=change.new_sop_uid,
        accepted_unverified=accept_unverified and prepared.pixel_cleaning_required and not verified,
        pixel_cleaning_required=prepared.pixel_cleaning_required,
        pixel_rule=verdict.rule if verdict else "",
        text_boxes_found=verdict.boxes_found if verdict else 0,
        text_boxes_blacked_out=verdict.boxes_blacked_out if verdict else 0,
        text_boxes_kept=verdict.boxes_kept if verdict else 0,
        remaining_text_boxes=verdict.remaining_boxes if verdict else (),
        unverified_reason=verdict.reason if verdict else "",
        text_summary=verdict.summary() if verdict else "",
    )


def anonymize_file(src: str | os.PathLike, dst: str | os.PathLike, *, profile: Profile, key: bytes | str,
                   accept_unverified: bool = False, blackout=()) -> AnonymizationResult:
    """Anonymize one file.

    Parameters
    ----------
    src : path
        The source file.
    dst : path
        The destination file, or an existing folder in which the file is
        named after its new SOP Instance UID (original names may hold PHI).
        In a folder a different file is never replaced: an output whose name
        is taken by other bytes is written as ``{uid}-2.dcm`` and the reason
        says so (:func:`.io.write_into_folder`).
    profile : Profile
        :func:`strict_profile`, :func:`basic_profile` or :func:`custom_profile`.
    key : bytes
        The job key (UID remapping, date shift, pseudonyms).
    accept_unverified : bool
        Staff accept images whose burned-in text could not be verified.
    blackout : iterable of (x0, y0, x1, y1)
        Boxes staff pointed at in review, blacked out in every frame.

    Returns
    -------
    AnonymizationResult
        Never raises for a bad input: a bad file is ``rejected`` with its
        reason, and nothing is written for it.  A defect of this code is
        ``failed``, logged under a reference (:mod:`.defects`).

    Raises
    ------
    TextEngineUnavailable
        The OCR models cannot be loaded: a broken installation, not this file.
    """
    key = _as_key(key)
    source = os.fspath(src)
    try:
        try:
            instance = read_instance(source)
        except NotDicomFile as exc:
            return AnonymizationResult(source=source, status="discarded", reason=str(exc))
        return _anonymize_instance(instance, Path(dst), profile=profile, key=key, accept_unverified=accept_unverified,
                                   blackout=blackout)
    except TextEngineUnavailable:
        raise  # the installation, not this file: the caller stops (a worker, the command)
    except AnonymizationError as exc:
        return AnonymizationResult(source=source, status="rejected", reason=str(exc))
    except Exception as exc:
        if raised_while_parsing(exc):
            # pydicom converting an element, a decoder reading a frame: the file is malformed.
            return AnonymizationResult(source=source, status="rejected",
                                       reason=f"malformed content: {library_words(exc, fallback='it does not parse')}")
        return failed_result(source, exc)  # not the input's fault: a defect of this code


def failed_result(source: str, exc: BaseException) -> AnonymizationResult:
    """Log ``exc`` as a defect (stack, no identifiers) and say so in a plain sentence."""
    reference = report_defect(exc, where="anonymizing an instance")
    return AnonymizationResult(source=source, status="failed", reason=defect_sentence(reference), reference=reference)


def _anonymize_instance(instance: SourceInstance, dst: Path, *, profile: Profile, key: bytes,
                        accept_unverified: bool, blackout=()) -> AnonymizationResult:
    ds = instance.dataset
    reason = _discard_reason(ds, instance.has_pixels, profile)
    if reason:
        return AnonymizationResult(source=instance.path, status="discarded", reason=reason)
    if instance.pixels is None and "PixelData" in ds:
        # Deflated sources are read whole: clean in memory.
        result = anonymize_dataset(ds, profile=profile, key=key, accept_unverified=accept_unverified, blackout=blackout)
        result.source = instance.path
        if result.status == "written":
            _write_in_memory(result, dst)
        return result
    element = instance.pixels

    def encoded():
        return iter_encapsulated_frames(element, read_pixel_attributes(ds_pixels).frames)

    def decoded(*, as_rgb: bool = True):
        return decoded_frames(instance.path, as_rgb=as_rgb)

    def bitstream():
        return VideoBitstream.from_element(element)

    ds_pixels = _pixel_module(ds) if element is not None else None
    prepared = _prepare(ds, profile=profile, key=key, has_pixels=element is not None,
                        transfer_syntax=instance.transfer_syntax, encoded_frames=encoded, decoded_frames=decoded,
                        video_bitstream=bitstream, blackout=blackout)
    result = _result_from(instance.path, prepared, accept_unverified=accept_unverified)
    cleaned = prepared.cleaned
    output_syntax = cleaned.transfer_syntax if cleaned else instance.transfer_syntax
    if instance.transfer_syntax == EXPLICIT_VR_BIG_ENDIAN and output_syntax != EXPLICIT_VR_BIG_ENDIAN:
        swap_word_values_to_little_endian(ds)  # OW palettes and LUTs hold big endian words as read
    if instance.body_implicit_vr:
        convert_raw_elements(ds)  # written explicit, as the syntax says: every element needs its VR
    ds.file_meta = build_file_meta(ds, output_syntax)
    output = UID(output_syntax)

    def append_pixels(out):
        if cleaned is None:
            if element is not None:
                copy_pixel_element(element, out, implicit_vr=output.is_implicit_VR,
                                   little_endian=output.is_little_endian,
                                   native_vr="OW" if int(ds.get("BitsAllocated", 8) or 8) > 8 else "OB")
        elif cleaned.single_fragment:
            write_video_pixel_data(out, cleaned.frames, length=cleaned.total_length)
        elif cleaned.encapsulated:
            write_encapsulated_pixel_data(out, cleaned.frames, number_of_frames=read_pixel_attributes(ds_pixels).frames)
        else:
            write_native_pixel_data(out, cleaned.frames, total_length=cleaned.total_length,
                                    vr="OW" if int(ds.BitsAllocated) > 8 else "OB")

    _write_result(result, dst, lambda out: write_dataset_with_pixels(out, ds, append_pixels))
    return result


def anonymize_dataset(ds: Dataset, *, profile: Profile, key: bytes | str,
                      accept_unverified: bool = False, blackout=()) -> AnonymizationResult:
    """Anonymize a dataset held in memory, in place.

    The same rules as :func:`anonymize_file`; pixel data, when cleaned, is
    replaced by the cleaned frames (encapsulated when compressed).  The
    result's ``dataset`` is ``ds`` with a fresh ``file_meta``.

    Raises
    ------
    AnonymizationError
        The dataset cannot be anonymized safely (a malformed element ...).
    """
    key = _as_key(key)
    take_sop_uids_from_meta(ds)
    reason = _discard_reason(ds, "PixelData" in ds, profile)
    if reason:
        return AnonymizationResult(source="<dataset>", status="discarded", reason=reason)
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", EXPLICIT_VR_LITTLE_ENDIAN)) if meta is not None else EXPLICIT_VR_LITTLE_ENDIAN
    has_pixels = "PixelData" in ds
    if has_pixels:
        pixel_bytes = ds.PixelData
        compressed = UID(syntax).is_compressed
        decode_source = Dataset()
        decode_source.update({k: v for k, v in _pixel_module(ds).items()})
        decode_source.PixelData = pixel_bytes
        decode_source["PixelData"].VR = ds["PixelData"].VR
        decode_source.file_meta = build_file_meta_for_decode(syntax)

    def encoded():
        if not compressed:
            raise AnonymizationError("internal: native frames are decoded, not read as stored")
        return generate_frames(pixel_bytes, number_of_frames=read_pixel_attributes(decode_source).frames)

    def decoded(*, as_rgb: bool = True):
        return decoded_frames(decode_source, as_rgb=as_rgb)

    def bitstream():
        return VideoBitstream.from_value(pixel_bytes)

    prepared = _prepare(ds, profile=profile, key=key, has_pixels=has_pixels, transfer_syntax=syntax,
                        encoded_frames=encoded, decoded_frames=decoded, video_bitstream=bitstream, blackout=blackout)
    result = _result_from("<dataset>", prepared, accept_unverified=accept_unverified)
    output_syntax = syntax
    if prepared.cleaned is not None:
        cleaned = prepared.cleaned
        output_syntax = cleaned.transfer_syntax
        if cleaned.single_fragment:
            ds.PixelData = encapsulate([b"".join(cleaned.frames)], has_bot=False)
            ds["PixelData"].VR = "OB"
        elif cleaned.encapsulated:
            ds.PixelData = encapsulate(list(cleaned.frames), has_bot=True)
            ds["PixelData"].VR = "OB"
        else:
            ds.PixelData = b"".join(cleaned.frames)
            ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
        if syntax == EXPLICIT_VR_BIG_ENDIAN:
            swap_word_values_to_little_endian(ds, skip=("PixelData",))
    if output_syntax == DEFLATED and prepared.cleaned is not None:
        output_syntax = EXPLICIT_VR_LITTLE_ENDIAN
    ds.file_meta = build_file_meta(ds, output_syntax)
    result.dataset = ds
    return result


def build_file_meta_for_decode(syntax: str) -> FileMetaDataset:
    """A minimal file meta so pydicom's decoders know the source syntax."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(syntax)
    return meta


def _write_in_memory(result: AnonymizationResult, dst: Path) -> None:
    ds = result.dataset
    _write_result(result, dst, lambda out: write_dataset_with_pixels(out, ds, None))
    result.dataset = None


def _write_result(result: AnonymizationResult, dst: Path, write) -> None:
    """Write to the file ``dst``, or into the folder ``dst`` named after the new SOP Instance UID."""
    if not dst.is_dir():
        write_atomically(dst, write)
        result.output = str(dst)
        return
    destination, note = write_into_folder(dst, result.new_sop_uid, write)
    result.output = str(destination)
    if note:
        result.reason = f"{result.reason}; {note}"

