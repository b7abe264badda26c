"""Preview renderer against the raw limit: x264 on frames that are already decoded.

Builds a 960-frame 640x480 JPEG Baseline YBR_FULL_422 ultrasound clip, then
in the same run:

* project   -- ``render_instance`` on the DICOM file (decode + map + pipe +
               encode + poster + thumbnail), in a fresh process so its peak
               RSS is its own;
* reference -- the bundled ffmpeg's x264 at the same preset and CRF reading
               the same frames, decoded beforehand into a raw RGB file;

and prints both side by side with their ratio, peak memory and file sizes.

Usage: ``.venv/bin/python bench/bench_previews.py [--frames 960] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sharing.previews.clips import X264Settings  # noqa: E402

WIDTH, HEIGHT = 640, 480
TARGET_SPEED_RATIO = 0.8
TARGET_PEAK_MB = 250
TARGET_SIZE_RATIO = 1.5


def ultrasound_frames(count: int):
    """Frames like a cardiac loop: pydicom's US clip enlarged, played back and forth, with live speckle."""
    import pydicom
    from PIL import Image
    from pydicom.data import get_testdata_file

    loop = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm")).pixel_array
    loop = [np.asarray(Image.fromarray(f).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)) for f in loop]
    cycle = loop + loop[-2:0:-1]
    rng = np.random.default_rng(7)
    sector = np.asarray(Image.fromarray(cycle[0]).convert("L")) > 12
    for index in range(count):
        frame = cycle[index % len(cycle)].astype(np.int16)
        # Speckle changes every frame in a real scan; only inside the image sector.
        speckle = rng.normal(0, 4, (HEIGHT, WIDTH)).astype(np.int16) * sector
        yield np.clip(frame + speckle[..., None], 0, 255).astype(np.uint8)


def build_clip(path: Path, count: int) -> None:
    import pydicom
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    fragments = []
    for frame in ultrasound_frames(count):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=90, subsampling=1)
        fragments.append(buffer.getvalue())
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = HEIGHT, WIDTH, count
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = "33.333"
    ds.PixelData = encapsulate(fragments, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    del ds, fragments
    pydicom.dcmread(path, stop_before_pixels=True)


def decode_to_raw(dicom: Path, raw: Path) -> None:
    """The reference's input: every frame decoded once, ahead of time."""
    from sharing.previews.frames import open_frame_source

    with raw.open("wb") as f:
        for frame in open_frame_source(dicom).frames():
            f.write(frame.tobytes())


def high_water_mb(pid: int | str = "self") -> float:
    """Peak resident memory of one process (VmHWM).

    Not ru_maxrss: Linux carries the forking parent's peak over exec into
    it, so a child started from a large process would look large.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class ChildPeakWatcher:
    """Polls the VmHWM of this process's children (ffmpeg) while they run."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.peaks: dict[int, float] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "ChildPeakWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0.0)

    def _poll(self) -> None:
        tasks = Path(f"/proc/{os.getpid()}/task")
        while not self._stop.is_set():
            # Each thread's direct children (Linux CONFIG_PROC_CHILDREN).
            for children in tasks.glob("*/children"):
                try:
                    pids = children.read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    try:
                        # Until exec, a spawned child still shows our own memory.
                        if not Path(f"/proc/{pid}/comm").read_text().startswith("ffmpeg"):
                            continue
                    except OSError:
                        continue
                    self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0.0), high_water_mb(pid))
            self._stop.wait(self._interval)


def run_project_child(dicom: str, out: str) -> None:
    """Runs in a fresh interpreter; prints its measurements as JSON."""
    from sharing.previews import render_instance

    with ChildPeakWatcher() as ffmpeg:
        start = time.perf_counter()
        preview = render_instance(dicom, out, stem="clip-1")
        seconds = time.perf_counter() - start
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "seconds": seconds,
        "python_cpu": own.ru_utime + own.ru_stime,
        "ffmpeg_cpu": children.ru_utime + children.ru_stime,
        "python_peak_mb": high_water_mb(),
        "ffmpeg_peak_mb": ffmpeg.peak_mb,
        "bytes": preview.media.stat().st_size,
        "frames": preview.frames,
    }))


def measure_project(dicom: Path, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child-project", str(dicom), str(out)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_reference(raw: Path, out: Path, x264: X264Settings, frames: int) -> dict:
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{WIDTH}x{HEIGHT}", "-framerate", "30",
        "-i", str(raw),
        "-c:v", "libx264", "-preset", x264.preset, "-crf", str(x264.crf), "-pix_fmt", "yuv420p",
        str(out),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ChildPeakWatcher() as ffmpeg:
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"seconds": seconds, "ffmpeg_cpu": cpu, "ffmpeg_peak_mb": ffmpeg.peak_mb,
            "bytes": out.stat().st_size, "frames": frames}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=960)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs of each side")
    parser.add_argument("--child-project", nargs=2, metavar=("DICOM", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_project:
        run_project_child(*args.child_project)
        return 0

    x264 = X264Settings()
    with tempfile.TemporaryDirectory(prefix="bench-previews-") as tmp:
        tmp = Path(tmp)
        dicom, raw = tmp / "clip.dcm", tmp / "frames.rgb"
        print(f"building a {args.frames}-frame {WIDTH}x{HEIGHT} JPEG Baseline YBR_FULL_422 clip...", flush=True)
        build_clip(dicom, args.frames)
        decode_to_raw(dicom, raw)
        print(f"DICOM {dicom.stat().st_size / 1e6:.1f} MB; decoded frames {raw.stat().st_size / 1e6:.0f} MB; "
              f"x264 -preset {x264.preset} -crf {x264.crf}; {os.cpu_count()} CPUs\n", flush=True)

        projects, references = [], []
        for run in range(args.repeat):
            references.append(measure_reference(raw, tmp / f"ref-{run}.mp4", x264, args.frames))
            projects.append(measure_project(dicom, tmp / f"out-{run}"))
        project = min(projects, key=lambda r: r["seconds"])
        reference = min(references, key=lambda r: r["seconds"])

    speed_ratio = reference["seconds"] / project["seconds"]
    size_ratio = project["bytes"] / reference["bytes"]
    project_peak = project["python_peak_mb"] + project["ffmpeg_peak_mb"]
    rows = [
        ("", "project (DICOM -> MP4)", "reference (x264 on decoded)", "ratio"),
        ("wall time", f"{project['seconds']:.2f} s", f"{reference['seconds']:.2f} s", f"{speed_ratio:.2f}x speed"),
        ("CPU python", f"{project['python_cpu']:.2f} s", "-", ""),
        ("CPU ffmpeg", f"{project['ffmpeg_cpu']:.2f} s", f"{reference['ffmpeg_cpu']:.2f} s", ""),
        ("frames/s", f"{args.frames / project['seconds']:.0f}", f"{args.frames / reference['seconds']:.0f}", ""),
        ("peak RSS python", f"{project['python_peak_mb']:.0f} MB", "-", ""),
        ("peak RSS ffmpeg", f"{project['ffmpeg_peak_mb']:.0f} MB", f"{reference['ffmpeg_peak_mb']:.0f} MB", ""),
        ("file size", f"{project['bytes'] / 1e6:.2f} MB", f"{reference['bytes'] / 1e6:.2f} MB", f"{size_ratio:.2f}x"),
    ]
    for row in rows:
        print(f"{row[0]:<17}{row[1]:>24}{row[2]:>30}{row[3]:>14}")
    checks = [
        (f"speed >= {TARGET_SPEED_RATIO} of the reference", speed_ratio >= TARGET_SPEED_RATIO),
        (f"peak memory < {TARGET_PEAK_MB} MB (python + ffmpeg)", project_peak < TARGET_PEAK_MB),
        (f"file <= {TARGET_SIZE_RATIO}x the reference", size_ratio <= TARGET_SIZE_RATIO),
    ]
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
