"""Helpers for the preview tests: sample files, datasets built in code, readers of outputs.

A plain module (not conftest) so that tests can import it by a name no other
test folder uses.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def sample(name: str) -> Path:
    """A file bundled with pydicom; never downloaded (the tests run offline)."""
    path = get_testdata_file(name, download=False)
    assert path, f"{name} is not bundled with this pydicom"
    return Path(path)


def new_dataset(*, sop_class: str = SECONDARY_CAPTURE, syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "US" if sop_class == US_MULTIFRAME else "OT"
    ds.PatientName = "DOE^JANE"
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def build_native(path: Path, pixels: np.ndarray, photometric: str, *, bits_stored: int | None = None, **elements) -> Path:
    """A native (uncompressed) instance; 3-D grey or 4-D colour `pixels` make a multi-frame one."""
    multiframe = pixels.ndim == 4 or (pixels.ndim == 3 and photometric not in ("RGB", "YBR_FULL"))
    ds = new_dataset(sop_class=US_MULTIFRAME if multiframe else SECONDARY_CAPTURE)
    ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return save(ds, path)


def jpeg_fragment(frame: np.ndarray, *, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    # 4:2:2, as ultrasound devices write YBR_FULL_422.
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def build_jpeg_clip(path: Path, frames: np.ndarray, *, fragments: list[bytes] | None = None, **elements) -> Path:
    """A JPEG Baseline YBR_FULL_422 multi-frame ultrasound clip, like a cart writes."""
    count, rows, columns = frames.shape[:3]
    ds = new_dataset(sop_class=US_MULTIFRAME, syntax=JPEGBaseline8Bit)
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, count
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = "33.333"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = encapsulate(fragments or [jpeg_fragment(f) for f in frames], has_bot=True)
    ds["PixelData"].VR = "OB"
    return save(ds, path)


def moving_pattern(count: int, rows: int, columns: int, *, colour: bool) -> np.ndarray:
    """Smooth frames with a moving bright disc: cheap to encode, easy to compare."""
    y, x = np.mgrid[0:rows, 0:columns]
    frames = []
    for i in range(count):
        cx, cy = columns * (0.3 + 0.4 * i / max(count - 1, 1)), rows / 2
        disc = ((x - cx) ** 2 + (y - cy) ** 2) < (min(rows, columns) / 5) ** 2
        grey = (40 + 120 * x / columns + 80 * disc).astype(np.uint8)
        if colour:
            frames.append(np.stack([grey, 255 - grey, np.full_like(grey, 90 + i % 50)], axis=-1))
        else:
            frames.append(grey)
    return np.stack(frames)


def read_jpeg(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)


def read_clip(path: Path) -> dict:
    """What a browser's decoder sees: codec, profile, pixel format, rate, frames."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
        return {
            "codec": stream.codec_context.name,
            "profile": stream.codec_context.profile,
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": Fraction(stream.average_rate),
            "size": (stream.codec_context.width, stream.codec_context.height),
            "frames": frames,
            "container_metadata": dict(container.metadata),
            "stream_metadata": dict(stream.metadata),
        }


def top_level_boxes(path: Path) -> list[str]:
    """The MP4 box types at the top level, in file order."""
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes


def ffmpeg_children() -> list[str]:
    """ffmpeg processes (running or zombie) whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == os.getpid() and "ffmpeg" in name:
            found.append(f"{entry.name} {name} state={fields[0]}")
    return found


def dcmread(path: Path) -> Dataset:
    return pydicom.dcmread(path)
