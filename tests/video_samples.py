"""Video DICOM files built in code: H.264, HEVC and MPEG-2 clips encoded by PyAV.

Each clip is an ultrasound loop: a banner of burned-in "text" (bright
blocks) across the top rows, outside the single ultrasound region, and a
moving image inside it.  The container carries a marker in its metadata
and the header carries markers in the patient's name and ID, so a test can
check that none reaches an output.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
MARKER = "ZQVIDEO"
BANNER_ROWS = 32  # rows 0..31 hold the burned-in text; the region starts below


@dataclass(frozen=True)
class VideoRecipe:
    """How one sample is encoded."""

    syntax: str
    encoder: str
    container: str  # PyAV muxer: mpegts, mp4, vob, h264 ...
    pixel_format: str = "yuv420p"
    width: int = 320
    height: int = 240
    frames: int = 24
    fps: Fraction = Fraction(25)
    fragments: int = 1
    audio: bool = False  # a sound track (PS3.5 8.2.12 allows one) that could hold a spoken name
    x264_params: str = ""  # e.g. frame-packing=3 for side-by-side 3D


def clip_frame(index: int, width: int, height: int) -> np.ndarray:
    """One RGB frame: text blocks in the banner, a moving bright disc in the image area."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[BANNER_ROWS:, :] = (40, 40, 40)
    for x in range(8, width - 24, 24):  # "letters" of burned-in text
        frame[8:24, x:x + 14] = 255
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = 40 + (index * 7) % (width - 80), height // 2 + BANNER_ROWS // 2
    frame[((yy - cy) ** 2 + (xx - cx) ** 2 < 20 ** 2) & (yy >= BANNER_ROWS)] = (220, 180, 60)
    return frame


def encode_stream(recipe: VideoRecipe) -> bytes:
    """The clip encoded as ``recipe`` says, with a marker in the container's metadata."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=recipe.container) as output:
        output.metadata["title"] = MARKER
        output.metadata["service_name"] = MARKER
        stream = output.add_stream(recipe.encoder, rate=recipe.fps)
        stream.width, stream.height, stream.pix_fmt = recipe.width, recipe.height, recipe.pixel_format
        if recipe.encoder == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        elif recipe.x264_params:
            stream.options = {"x264-params": recipe.x264_params}
        elif recipe.encoder == "mpeg2video":
            stream.bit_rate = 4_000_000
        sound = None
        if recipe.audio:
            sound = output.add_stream("mp2", rate=48000, layout="mono")
            sound.metadata["title"] = MARKER
        for index in range(recipe.frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, recipe.width, recipe.height), format="rgb24")
            output.mux(stream.encode(frame))
            if sound is not None:
                samples = av.AudioFrame.from_ndarray(np.zeros((1, 1920), np.int16), format="s16", layout="mono")
                samples.sample_rate, samples.pts = 48000, index * 1920
                output.mux(sound.encode(samples))
        output.mux(stream.encode(None))
        if sound is not None:
            output.mux(sound.encode(None))
    return buffer.getvalue()


def video_dataset(recipe: VideoRecipe, stream: bytes | None = None) -> Dataset:
    """A US multi-frame instance holding the encoded clip (PS3.5 8.2.5-8.2.10 attributes)."""
    stream = encode_stream(recipe) if stream is None else stream
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = recipe.syntax
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_MULTIFRAME
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = f"{MARKER}^PATIENT", f"{MARKER}ID"
    ds.PatientBirthDate, ds.StudyDate = "19700101", "20260101"
    ds.Modality, ds.Manufacturer = "US", "Portal test"
    ds.Rows, ds.Columns = recipe.height, recipe.width
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_PARTIAL_420", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = recipe.frames
    ds.FrameTime = f"{1000 / float(recipe.fps):.3f}"
    ds.FrameIncrementPointer = 0x00181063
    ds.LossyImageCompression = "01"
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, BANNER_ROWS
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = recipe.width - 1, recipe.height - 1
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    size = -(-len(stream) // recipe.fragments)
    parts = [stream[i:i + size] for i in range(0, len(stream), size)]
    ds.PixelData = encapsulate(parts, has_bot=False) if len(parts) == 1 else _fragments(parts)
    ds["PixelData"].VR = "OB"
    return ds


def _fragments(parts: list[bytes]) -> bytes:
    """Several fragments of one stream after an empty offset table (fragmentable syntaxes)."""
    from pydicom.encaps import itemize_fragment

    padded = [part + b"\x00" * (len(part) % 2) for part in parts]
    return b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"".join(itemize_fragment(part) for part in padded)


def write_video(path: Path, recipe: VideoRecipe) -> Path:
    """Write the sample to ``path`` and return it."""
    video_dataset(recipe).save_as(path, enforce_file_format=True)
    return path
