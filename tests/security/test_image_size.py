"""Issue 16.4: a small file that declares a huge picture cannot take the render worker's memory.

A 1.3 MB JPEG Baseline instance may declare 8192 x 8192 pixels (inside the ingest cap). Decoded at
full size it is 200 MB per frame, and pydicom's reference decode, the colour conversion and x264 at
that size took the render worker to 2.4 GB. The renderer now scales to the patient maximum (1920 px
on the long side) while decoding (libjpeg-turbo's DCT scaling), and checks rows x columns x frames
against a pixel budget before decoding anything. The render runs in its own process, as in the
Celery worker, and its peak RSS (VmHWM) is what is measured.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

SIDE = 8192
RSS_LIMIT_MB = 600

RENDER = r"""
import json, resource, sys
from pathlib import Path
from sharing.previews import render_instance
preview = render_instance(sys.argv[1], sys.argv[2], stem="big")
peak = next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"python_mb": peak / 1024, "ffmpeg_mb": children / 1024, "width": preview.width,
                  "height": preview.height, "frames": preview.frames}))
"""


def huge_jpeg() -> bytes:
    """An 8192 x 8192 colour JPEG of about 1.3 MB: flat, with a textured patch."""
    image = Image.new("RGB", (SIDE, SIDE), (30, 30, 30))
    texture = np.random.default_rng(4).integers(0, 255, (360, 360, 3), dtype=np.uint8)
    image.paste(Image.fromarray(texture), (1024, 1024))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, subsampling=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def jpeg_frame() -> bytes:
    return huge_jpeg()


def write_instance(path: Path, fragment: bytes, frames: int) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = (
        "1.2.840.10008.5.1.4.1.1.3.1" if frames > 1 else "1.2.840.10008.5.1.4.1.1.7")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Rows = ds.Columns = SIDE
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if frames > 1:
        ds.NumberOfFrames, ds.FrameTime = frames, "100"
    ds.PixelData = encapsulate([fragment] * frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("frames", [1, 8], ids=["still", "8-frame clip"])
def test_a_huge_declared_picture_renders_patient_sized_within_the_memory_limit(tmp_path, jpeg_frame, frames):
    source = write_instance(tmp_path / "big.dcm", jpeg_frame, frames)
    assert 1.0e6 < len(jpeg_frame) < 1.6e6, "the sample is the 1.3 MB file of the report"
    result = subprocess.run([sys.executable, "-c", RENDER, str(source), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["python_mb"] < RSS_LIMIT_MB, f"render worker peaked at {measured['python_mb']:.0f} MB"
    assert measured["ffmpeg_mb"] < RSS_LIMIT_MB, f"the encoder peaked at {measured['ffmpeg_mb']:.0f} MB"
    assert max(measured["width"], measured["height"]) <= 1920, "the preview is not scaled to the patient maximum"
    assert measured["frames"] == frames
