"""Benchmark the anonymizer against its references, side by side.

1. Header de-identification: the project (basic profile, header only, and
   strict) and dicognito on the same copies of pydicom's bundled ultrasound
   files -- each reads, de-identifies and writes every file.
2. Strict with pixel cleaning on a 640x480 JPEG Baseline cine built in code,
   against the raw limit: libjpeg-turbo decoding (only) the same frames.

    .venv/bin/python bench/bench_anonymizer.py [--copies 25] [--frames 300]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "anonymizer"))  # the clip builder the tests use

from anonymizer import anonymize_file, basic_profile, strict_profile  # noqa: E402
from anonymizer_fixtures import jpeg_clip  # noqa: E402

BUNDLED_US = ["examples_ybr_color.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_jpeg2k.dcm"]
KEY = b"benchmark-key"


def copy_inputs(folder: Path, copies: int) -> list[Path]:
    files = []
    for name in BUNDLED_US:
        source = Path(get_testdata_file(name, download=False))
        for index in range(copies):
            target = folder / f"{index:03d}-{name}"
            shutil.copyfile(source, target)
            files.append(target)
    return files


def time_project(files: list[Path], out: Path, profile) -> float:
    start = time.perf_counter()
    for path in files:
        result = anonymize_file(path, out / path.name, profile=profile, key=KEY)
        assert result.status == "written", result.reason
    return time.perf_counter() - start


def time_dicognito(files: list[Path], out: Path) -> float:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()
    start = time.perf_counter()
    for path in files:
        ds = pydicom.dcmread(path)
        anonymizer.anonymize(ds)
        ds.save_as(out / path.name)
    return time.perf_counter() - start


def best_of(runs: int, measure) -> float:
    return min(measure() for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=25, help="copies of each bundled US file")
    parser.add_argument("--frames", type=int, default=300, help="frames in the generated 640x480 cine")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        inputs = scratch / "in"
        inputs.mkdir()
        files = copy_inputs(inputs, args.copies)
        outputs = {name: scratch / name for name in ("basic", "strict", "dicognito")}
        for folder in outputs.values():
            folder.mkdir()
        basic = best_of(args.runs, lambda: time_project(files, outputs["basic"], basic_profile()))
        strict = best_of(args.runs, lambda: time_project(files, outputs["strict"], strict_profile()))
        dicognito = best_of(args.runs, lambda: time_dicognito(files, outputs["dicognito"]))
        count = len(files)
        print(f"header de-identification, {count} bundled ultrasound files (best of {args.runs}):")
        print(f"  project basic (header only) {count / basic:8.1f} files/s")
        print(f"  project strict (+ pixels)   {count / strict:8.1f} files/s")
        print(f"  dicognito 0.19              {count / dicognito:8.1f} files/s")
        print(f"  ratio basic / dicognito     {dicognito / basic:8.2f}x  (>= 1 means no slower)")

        clip = jpeg_clip(args.frames)
        clip_path = scratch / "cine.dcm"
        clip.save_as(clip_path, enforce_file_format=True)
        fragments = list(generate_frames(clip.PixelData, number_of_frames=args.frames))
        del clip

        def decode_only() -> float:
            start = time.perf_counter()
            for fragment in fragments:
                Image.open(io.BytesIO(fragment)).load()
            return time.perf_counter() - start

        def strict_clip() -> float:
            start = time.perf_counter()
            result = anonymize_file(clip_path, scratch / "cine-out.dcm", profile=strict_profile(), key=KEY)
            assert result.status == "written" and result.pixels_verified, result.reason
            return time.perf_counter() - start

        cleaned = best_of(args.runs, strict_clip)
        decoded = best_of(args.runs, decode_only)
        print(f"strict pixel cleaning, 640x480 JPEG Baseline cine, {args.frames} frames (best of {args.runs}):")
        print(f"  project strict (decode, mask, re-encode, write) {args.frames / cleaned:8.1f} frames/s (target >= 150)")
        print(f"  libjpeg-turbo decode only (raw limit, 1 thread) {args.frames / decoded:8.1f} frames/s")
        print(f"  ratio project / decode-only                     {decoded / cleaned:8.2f}x")

        native_path = scratch / "native.dcm"
        native_clip(args.frames).save_as(native_path, enforce_file_format=True)

        def strict_native() -> float:
            start = time.perf_counter()
            result = anonymize_file(native_path, scratch / "native-out.dcm", profile=strict_profile(), key=KEY)
            assert result.status == "written" and result.pixels_verified, result.reason
            return time.perf_counter() - start

        def copy_only() -> float:
            start = time.perf_counter()
            shutil.copyfile(native_path, scratch / "native-copy.dcm")
            return time.perf_counter() - start

        native = best_of(args.runs, strict_native)
        copied = best_of(args.runs, copy_only)
        print(f"strict pixel cleaning, 640x480 native RGB cine, {args.frames} frames (best of {args.runs}):")
        print(f"  project strict (pydicom decode, mask, write)    {args.frames / native:8.1f} frames/s")
        print(f"  copying the file (raw limit)                    {args.frames / copied:8.1f} frames/s")
        print(f"  ratio project / copy                            {copied / native:8.2f}x")
    return 0


def native_clip(frames: int) -> Dataset:
    """The JPEG cine's twin in native RGB: every frame goes through pydicom's native decoder."""
    rng = np.random.default_rng(11)
    ds = jpeg_clip(1, rows=480, columns=640)
    ds.NumberOfFrames = frames
    ds.PhotometricInterpretation = "RGB"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    del ds.LossyImageCompression
    ds.PixelData = rng.integers(0, 255, (frames, 480, 640, 3), dtype=np.uint8).tobytes()
    ds["PixelData"].VR = "OB"
    return ds


if __name__ == "__main__":
    raise SystemExit(main())
