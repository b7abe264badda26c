"""Property tests: the engine walks generated nested datasets and applies the profile everywhere."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer import basic_profile, strict_profile
from anonymizer.engine import deidentify_header
from anonymizer.profiles import REMOVE, STRICT_ALLOWED_KEYWORDS, STRICT_EMPTIED_KEYWORDS
from anonymizer.uids import is_class_uid
from .anonymizer_fixtures import KEY

TEXT_KEYWORDS = ["StudyDescription", "InstitutionName", "OperatorsName", "PatientName", "PatientID",
                 "ImageType", "Modality", "StationName", "AccessionNumber", "WindowCenterWidthExplanation"]
DATE_KEYWORDS = ["StudyDate", "AcquisitionDate", "PatientBirthDate", "ContentDate"]
UID_KEYWORDS = ["StudyInstanceUID", "SOPInstanceUID", "ReferencedSOPInstanceUID", "FrameOfReferenceUID",
                "ReferencedSOPClassUID"]
SEQUENCE_KEYWORDS = ["ReferencedImageSequence", "SequenceOfUltrasoundRegions", "VOILUTSequence",
                     "OtherPatientIDsSequence", "RequestAttributesSequence", "ProcedureCodeSequence"]

text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", min_size=1, max_size=12).map(str.strip).filter(bool)
uid = st.lists(st.integers(1, 99999), min_size=3, max_size=6).map(lambda parts: "1.2." + ".".join(map(str, parts)))
import datetime

date = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2099, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))


def set_value(ds: Dataset, keyword: str, value) -> None:
    if keyword in ("ImageType", "Modality"):
        value = value.replace(" ", "_")
    setattr(ds, keyword, value)


@st.composite
def datasets(draw, depth: int = 0) -> Dataset:
    ds = Dataset()
    for keyword in draw(st.lists(st.sampled_from(TEXT_KEYWORDS), unique=True, max_size=5)):
        set_value(ds, keyword, draw(text))
    for keyword in draw(st.lists(st.sampled_from(DATE_KEYWORDS), unique=True, max_size=3)):
        setattr(ds, keyword, draw(date))
    for keyword in draw(st.lists(st.sampled_from(UID_KEYWORDS), unique=True, max_size=3)):
        setattr(ds, keyword, draw(uid))
    if draw(st.booleans()):
        ds.add_new(0x00090010, "LO", "SOME VENDOR")
        ds.add_new(0x00091001, "LO", draw(text))
    if depth < 3:
        for keyword in draw(st.lists(st.sampled_from(SEQUENCE_KEYWORDS), unique=True, max_size=2)):
            items = draw(st.lists(datasets(depth + 1), min_size=1, max_size=2))
            setattr(ds, keyword, Sequence(items))
    return ds


def anonymize(ds: Dataset, profile) -> Dataset:
    deidentify_header(ds, profile=profile, key=KEY)
    return ds


def every_element(ds: Dataset, depth: int = 0):
    for element in ds:
        yield depth, element
        if element.VR == "SQ":
            for item in element.value:
                yield from every_element(item, depth + 1)


STRICT_ADDED = {"PatientName", "PatientID", "PatientSex", "PatientBirthDate", "StudyDate", "ContentDate",
                "AcquisitionDate", "PatientIdentityRemoved", "DeidentificationMethod",
                "DeidentificationMethodCodeSequence", "LongitudinalTemporalInformationModified",
                "CodeValue", "CodingSchemeDesignator", "CodeMeaning"}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(datasets())
def test_strict_leaves_only_allowed_attributes_at_every_depth(ds):
    out = anonymize(ds, strict_profile())
    allowed = STRICT_ALLOWED_KEYWORDS | set(STRICT_EMPTIED_KEYWORDS) | STRICT_ADDED
    for depth, element in every_element(out):
        assert not element.tag.is_private, "a private element survived strict"
        assert element.keyword in allowed, f"{element.keyword} survived strict at depth {depth}"
        if element.VR == "UI" and element.value:
            assert str(element.value).startswith("2.25.") or is_class_uid(str(element.value), element.keyword)
        if element.VR == "PN" and depth > 0:
            raise AssertionError("a person name survived inside a sequence")
    assert out.PatientName == "ANONYMOUS"


@FAST
@given(datasets())
def test_basic_applies_the_table_at_every_depth(ds):
    originals = {str(e.value) for _, e in every_element(ds) if e.VR == "UI"}
    profile = basic_profile()
    out = anonymize(ds, profile)
    for depth, element in every_element(out):
        assert not element.tag.is_private, "a private element survived basic"
        if element.keyword not in ("DeidentificationMethodCodeSequence",):
            assert profile.action_for(element.tag) != REMOVE, f"{element.keyword} (X) survived at depth {depth}"
        if element.VR == "UI" and element.value and not is_class_uid(str(element.value), element.keyword):
            assert str(element.value) not in originals, f"{element.keyword} kept its original UID"


@FAST
@given(datasets())
def test_same_uid_maps_to_same_new_uid_wherever_it_appears(ds):
    shared = "1.2.3.4.5.6.7"
    ds.StudyInstanceUID = shared
    reference = Dataset()
    reference.ReferencedSOPInstanceUID = shared
    ds.ReferencedImageSequence = Sequence([reference])
    out = anonymize(ds, strict_profile())
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out.StudyInstanceUID


@FAST
@given(datasets())
def test_strict_is_idempotent(ds):
    once = anonymize(ds, strict_profile())
    keywords_once = [e.keyword for _, e in every_element(once)]
    twice = anonymize(once, strict_profile())
    assert [e.keyword for _, e in every_element(twice)] == keywords_once
