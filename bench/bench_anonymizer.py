"""Benchmark the anonymizer against its references, side by side.

1. Header de-identification: the project (basic profile, header only, and
   strict) and dicognito on the same copies of pydicom's bundled ultrasound
   files -- each reads, de-identifies and writes every file.
2. Strict with pixel cleaning and text detection on a 120-frame 640x480 JPEG
   Baseline cine with burned-in text (a real GE frame, speckle changing per
   frame), beside the same path with text detection off (regions only, as
   before) and beside the raw limit: libjpeg-turbo decoding (only) the frames.
3. One 1024x768 image without regions (whole-frame detection), the model
   load counted apart (once per worker), and the peak memory of a fresh
   process that does 2 and 3.

    .venv/bin/python bench/bench_anonymizer.py [--copies 25] [--frames 120]
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
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
from anonymizer.pixels import load_text_engine  # noqa: E402
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


def ultrasound_clip(frames: int, *, regions: bool, size: tuple[int, int] = (640, 480)) -> pydicom.Dataset:
    """A JPEG Baseline cine from pydicom's GE frame: speckle changes per frame, and a static
    overlay of identifiers in the banner and an annotation inside the image."""
    import numpy as np
    from PIL import ImageDraw, ImageFont
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence

    from anonymizer_fixtures import region

    base = Image.fromarray(pydicom.dcmread(get_testdata_file("examples_jpeg2k.dcm")).pixel_array.astype("uint8"))
    base = base.resize(size)
    draw = ImageDraw.Draw(base)
    draw.text((300, 2), "DOE, JANE  ID 4471925", fill=(255, 255, 255), font=ImageFont.load_default(14))
    draw.text((size[0] // 2, size[1] // 2 + 20), "MI 0.8", fill=(255, 255, 0), font=ImageFont.load_default(15))
    pixels = np.asarray(base).astype(np.int16)
    rng = np.random.default_rng(1)
    fragments = []
    for _ in range(frames):
        frame = np.clip(pixels + rng.integers(-6, 7, pixels.shape[:2])[..., None], 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(frame).save(out, "JPEG", quality=85, subsampling=2)
        fragments.append(out.getvalue())
    ds = jpeg_clip(1)
    ds.Rows, ds.Columns = size[1], size[0]
    ds.NumberOfFrames = frames
    ds.Manufacturer = "Generic Scanner Co"
    if regions:
        ds.SequenceOfUltrasoundRegions = Sequence([region(14, 108 * size[1] // 480, size[0] - 15, 340 * size[1] // 480)])
    else:
        del ds.SequenceOfUltrasoundRegions
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    return ds


def regions_only_path(run) -> float:
    """Time ``run`` with text detection switched off: what the strict path did before it."""
    import anonymizer.anonymize as module
    from anonymizer.pixels import TextVerdict

    def without_detection(pixel_module, plan, **kwargs):
        return replace(plan, text=TextVerdict(verified=False, reason="text detection off", rule=plan.source))

    original = module.detect_burned_in_text
    module.detect_burned_in_text = without_detection
    try:
        return run()
    finally:
        module.detect_burned_in_text = original


def memory_probe(frames: int) -> int:
    """In a fresh process: load the models, clean the cine and a 1024x768 image; print peak RSS."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        started = time.perf_counter()
        load_text_engine()
        loaded = time.perf_counter() - started
        ultrasound_clip(frames, regions=True).save_as(scratch / "cine.dcm", enforce_file_format=True)
        ultrasound_clip(1, regions=False, size=(1024, 768)).save_as(scratch / "single.dcm", enforce_file_format=True)
        for name in ("cine.dcm", "single.dcm"):
            anonymize_file(scratch / name, scratch / f"out-{name}", profile=strict_profile(), key=KEY)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, f"{loaded:.2f}")
    return 0


def best_of(runs: int, measure) -> float:
    return min(measure() for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=25, help="copies of each bundled US file")
    parser.add_argument("--frames", type=int, default=120, help="frames in the generated 640x480 cine")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        return memory_probe(args.frames)

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

        clip_path = scratch / "cine.dcm"
        ultrasound_clip(args.frames, regions=True).save_as(clip_path, enforce_file_format=True)
        fragments = list(generate_frames(pydicom.dcmread(clip_path).PixelData, number_of_frames=args.frames))

        def decode_only() -> float:
            start = time.perf_counter()
            for fragment in fragments:
                Image.open(io.BytesIO(fragment)).load()
            return time.perf_counter() - start

        def strict_clip(verified: bool = True) -> float:
            start = time.perf_counter()
            result = anonymize_file(clip_path, scratch / "cine-out.dcm", profile=strict_profile(), key=KEY)
            assert result.status == "written" and result.pixels_verified == verified, result.reason
            return time.perf_counter() - start

        load_text_engine()  # timed in a fresh process below: here the header runs loaded it already
        detected = best_of(args.runs, strict_clip)
        regions_only = best_of(args.runs, lambda: regions_only_path(lambda: strict_clip(verified=False)))
        decoded = best_of(args.runs, decode_only)
        print(f"strict pixel cleaning, 640x480 JPEG Baseline cine with burned-in text, {args.frames} frames "
              f"(best of {args.runs}; model load once per process, not counted):")
        print(f"  project strict + text detection + gate  {args.frames / detected:8.1f} frames/s (target >= 100)")
        print(f"  project regions only (before text det.) {args.frames / regions_only:8.1f} frames/s")
        print(f"  libjpeg-turbo decode only (raw limit)   {args.frames / decoded:8.1f} frames/s")
        print(f"  ratio detection / regions-only          {detected / regions_only:8.2f}x slower")
        print(f"  ratio detection / decode-only           {detected / decoded:8.2f}x slower")

        single_path = scratch / "single.dcm"
        ultrasound_clip(1, regions=False, size=(1024, 768)).save_as(single_path, enforce_file_format=True)

        def strict_single() -> float:
            start = time.perf_counter()
            result = anonymize_file(single_path, scratch / "single-out.dcm", profile=strict_profile(), key=KEY)
            assert result.status == "written", result.reason
            return time.perf_counter() - start

        single = best_of(args.runs, strict_single)
        print(f"single 1024x768 JPEG image, no regions (whole-frame detection, best of {args.runs}):")
        print(f"  project strict + text detection + gate  {single:8.2f} s (target < 1.5 s; model load apart)")

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
    probe = subprocess.run([sys.executable, __file__, "--memory-probe", "--frames", str(args.frames)],
                           capture_output=True, text=True, check=True).stdout.split()
    print(f"model load (fresh process, once per worker): {float(probe[1]):.2f} s")
    print(f"worker memory: peak RSS of a fresh process that loads the models and cleans the cine "
          f"and the single image: {probe[0]} MB (target < 600 MB)")
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
