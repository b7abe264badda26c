"""Pixel processing on its own: windows, lookup tables and the clip-wide VOI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from sharing.previews.errors import PreviewError
from sharing.previews.processing import LinearRange, Window, plan_display


def grey_header(**elements) -> Dataset:
    header = Dataset()
    header.PhotometricInterpretation = "MONOCHROME2"
    header.SamplesPerPixel, header.BitsAllocated, header.BitsStored, header.PixelRepresentation = 1, 16, 12, 0
    for keyword, value in elements.items():
        setattr(header, keyword, value)
    return header


@settings(max_examples=60, deadline=None)
@given(
    center=st.floats(-500, 4500, allow_nan=False),
    width=st.floats(1, 5000, allow_nan=False),
    function=st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"]),
)
def test_window_agrees_with_pydicom_apply_windowing(center, width, function):
    header = grey_header(WindowCenter=center, WindowWidth=width, VOILUTFunction=function)
    values = np.arange(0, 4096, 7, dtype=np.uint16)
    expected = apply_windowing(values, header) / 4095
    assert np.allclose(Window(center, width, function)(values), expected, atol=1e-6)


def test_lookup_table_maps_signed_values_like_the_direct_computation():
    header = grey_header(PixelRepresentation=1, RescaleSlope="2", RescaleIntercept="-100",
                         WindowCenter="40", WindowWidth="400")
    mapping = plan_display(header, sample_frames=lambda: pytest.fail("a window is present"))
    frame = np.array([[-2048, -300, -1], [0, 70, 2047]], dtype=np.int16)
    direct = np.clip(np.rint(mapping.to_unit(frame) * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(mapping(frame), direct)
    assert mapping(frame)[0, 0] == 0 and mapping(frame)[1, 2] == 255


def test_clip_window_is_computed_once_from_sampled_frames():
    calls = []

    def sample_frames():
        calls.append(1)
        return [np.full((4, 4), 1000, np.uint16), np.full((4, 4), 3000, np.uint16)]

    mapping = plan_display(grey_header(), sample_frames)
    assert calls == [1], "the window must be chosen once for the whole clip"
    assert isinstance(mapping.voi, LinearRange)
    assert mapping(np.full((2, 2), 1000, np.uint16)).max() == 0
    assert mapping(np.full((2, 2), 3000, np.uint16)).min() == 255


def test_eight_bit_grey_without_window_is_shown_as_stored():
    header = grey_header(BitsAllocated=8, BitsStored=8)
    mapping = plan_display(header, sample_frames=lambda: pytest.fail("8-bit data needs no sampling"))
    frame = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(mapping(frame), frame), "ultrasound grey levels must not be stretched"


def test_enhanced_multiframe_window_comes_from_the_functional_groups():
    voi, transform, group = Dataset(), Dataset(), Dataset()
    voi.WindowCenter, voi.WindowWidth = "300", "200"
    transform.RescaleSlope, transform.RescaleIntercept = "1", "0"
    group.FrameVOILUTSequence = [voi]
    group.PixelValueTransformationSequence = [transform]
    mapping = plan_display(grey_header(SharedFunctionalGroupsSequence=[group]), sample_frames=list)
    assert mapping.voi == Window(300.0, 200.0, "LINEAR")


@pytest.mark.parametrize("photometric", ["HSV", "YBR_PARTIAL_420", ""])
def test_unknown_photometric_interpretation_is_refused(photometric):
    with pytest.raises(PreviewError, match="photometric"):
        plan_display(grey_header(PhotometricInterpretation=photometric), sample_frames=list)
