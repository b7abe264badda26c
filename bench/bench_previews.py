"""Preview renderer and video re-encoding against their raw limits, in one run.

1. JPEG clip: a 960-frame 640x480 JPEG Baseline YBR_FULL_422 ultrasound clip.

   * project   -- ``render_instance`` on the DICOM file (decode + encode +
                  poster + thumbnail), in a fresh process so its peak RSS is
                  its own;
   * reference -- the bundled ffmpeg's x264 at the same preset and CRF reading
                  the same frames, decoded beforehand into a raw RGB file.

2. H.264 clip: 300 frames of 1280x720 H.264 High in an MPEG-TS, in DICOM
   (MPEG-4 AVC/H.264 High Profile / Level 4.1).

   * remux     -- ``render_instance`` (first-frame check, packet copy into a
                  faststart MP4, poster, thumbnail) against ``ffmpeg -i
                  stream.ts -c copy -movflags +faststart`` on the stream
                  extracted beforehand;
   * strict    -- ``anonymize_file`` with the strict profile (decode, black
                  out outside the region, re-encode with x264) against the
                  bundled ffmpeg's x264 at the same preset and CRF on the
                  frames decoded beforehand.

Each side runs at least three times, interleaved with the other, and the
best run of each is compared, so a burst of load on a shared machine hits
both sides alike.

Usage: ``.venv/bin/python bench/bench_previews.py [--frames 960] [--video-frames 300] [--repeat 3]``
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
TARGET_SPEED_RATIO = 0.85
TARGET_PEAK_MB = 250
TARGET_SIZE_RATIO = 1.5

VIDEO_WIDTH, VIDEO_HEIGHT = 1280, 720
TARGET_REMUX_RATIO = 0.5  # within 2x of ffmpeg -c copy
TARGET_STRICT_RATIO = 0.6
TARGET_VIDEO_PEAK_MB = 300


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


def run_remux_child(dicom: str, out: str) -> None:
    """Runs in a fresh interpreter: what ``ffmpeg -c copy`` does (probe, copy into a faststart
    MP4), then the whole preview job (that, plus poster and thumbnail); prints JSON."""
    from sharing.previews import render_instance
    from sharing.previews.frames import open_frame_source

    Path(out).mkdir()
    start = time.perf_counter()
    source = open_frame_source(dicom)
    assert source.remux is not None, "the bench clip should be remuxed"
    frames = source.remux(Path(out) / "remux.mp4")
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    preview = render_instance(dicom, out, stem="clip-1")
    job = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "job_seconds": job, "python_cpu": own.ru_utime + own.ru_stime,
                      "ffmpeg_cpu": 0.0, "python_peak_mb": high_water_mb(), "ffmpeg_peak_mb": 0.0,
                      "bytes": preview.media.stat().st_size, "frames": frames}))


def run_strict_child(dicom: str, out: str) -> None:
    """Runs in a fresh interpreter: strict anonymization of the H.264 clip; prints JSON."""
    from anonymizer import anonymize_file, strict_profile

    start = time.perf_counter()
    result = anonymize_file(dicom, out, profile=strict_profile(), key=b"bench")
    seconds = time.perf_counter() - start
    assert result.status == "written" and result.pixels_verified, result.reason
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "python_cpu": own.ru_utime + own.ru_stime, "ffmpeg_cpu": 0.0,
                      "python_peak_mb": high_water_mb(), "ffmpeg_peak_mb": 0.0,
                      "bytes": Path(out).stat().st_size}))


def measure_child(mode: str, dicom: Path, out: Path) -> dict:
    """Run one project side in a fresh interpreter (its own peak RSS); its JSON line."""
    result = subprocess.run(
        [sys.executable, __file__, mode, str(dicom), str(out)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_project(dicom: Path, out: Path) -> dict:
    return measure_child("--child-project", dicom, out)


def measure_reference(raw: Path, out: Path, x264: X264Settings, frames: int,
                      size: tuple[int, int] = (WIDTH, HEIGHT)) -> dict:
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{size[0]}x{size[1]}", "-framerate", "30",
        "-i", str(raw),
        "-c:v", "libx264", "-preset", x264.preset, "-crf", str(x264.crf), "-pix_fmt", "yuv420p",
        str(out),
    ]
    return measure_command(command, out, frames)


def measure_command(command: list[str], out: Path, frames: int) -> dict:
    """Wall time, CPU and peak RSS of one ffmpeg run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ChildPeakWatcher() as ffmpeg:
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"seconds": seconds, "ffmpeg_cpu": cpu, "ffmpeg_peak_mb": ffmpeg.peak_mb,
            "bytes": out.stat().st_size, "frames": frames}


def build_h264_clip(dicom: Path, stream_path: Path, count: int) -> None:
    """An H.264 High / Level 4.1 clip in an MPEG-TS, wrapped in DICOM with one ultrasound region.

    The top 48 rows are the banner the strict profile blacks out.
    """
    import av
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import MPEG4HP41, generate_uid

    with av.open(str(stream_path), mode="w", format="mpegts") as output:
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = VIDEO_WIDTH, VIDEO_HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "profile": "high", "level": "4.1"}
        for frame in ultrasound_frames(count):
            big = np.asarray(Image.fromarray(frame).resize((VIDEO_WIDTH, VIDEO_HEIGHT), Image.Resampling.BILINEAR))
            output.mux(stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24")))
        output.mux(stream.encode(None))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName = "US", "BENCH^VIDEO"
    ds.Rows, ds.Columns, ds.NumberOfFrames = VIDEO_HEIGHT, VIDEO_WIDTH, count
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_PARTIAL_420", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime, ds.LossyImageCompression = "33.333", "01"
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 48
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = VIDEO_WIDTH - 1, VIDEO_HEIGHT - 1
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = encapsulate([stream_path.read_bytes()], has_bot=False)
    ds["PixelData"].VR = "OB"
    ds.save_as(dicom, enforce_file_format=True)


def decode_video_to_raw(stream_path: Path, raw: Path) -> None:
    """The strict reference's input: every frame of the H.264 clip decoded once, ahead of time."""
    import av

    with av.open(str(stream_path)) as container, raw.open("wb") as f:
        for frame in container.decode(video=0):
            f.write(frame.to_ndarray(format="rgb24").tobytes())


def best_of_interleaved(repeat: int, reference, project) -> tuple[dict, dict]:
    """Run reference and project alternately `repeat` times; the fastest run of each."""
    references, projects = [], []
    for run in range(repeat):
        references.append(reference(run))
        projects.append(project(run))
    return min(projects, key=lambda r: r["seconds"]), min(references, key=lambda r: r["seconds"])


def print_comparison(title: str, project: dict, reference: dict, frames: int) -> float:
    """Print one comparison table; return the speed ratio (reference time / project time)."""
    speed_ratio = reference["seconds"] / project["seconds"]
    size_ratio = project["bytes"] / reference["bytes"]
    rows = [
        (title, "project", "reference", "ratio"),
        ("wall time", f"{project['seconds']:.2f} s", f"{reference['seconds']:.2f} s", f"{speed_ratio:.2f}x speed"),
        ("CPU python", f"{project['python_cpu']:.2f} s", "-", ""),
        ("CPU ffmpeg", f"{project['ffmpeg_cpu']:.2f} s", f"{reference['ffmpeg_cpu']:.2f} s", ""),
        ("frames/s", f"{frames / project['seconds']:.0f}", f"{frames / reference['seconds']:.0f}", ""),
        ("peak RSS python", f"{project['python_peak_mb']:.0f} MB", "-", ""),
        ("peak RSS ffmpeg", f"{project['ffmpeg_peak_mb']:.0f} MB", f"{reference['ffmpeg_peak_mb']:.0f} MB", ""),
        ("file size", f"{project['bytes'] / 1e6:.2f} MB", f"{reference['bytes'] / 1e6:.2f} MB", f"{size_ratio:.2f}x"),
    ]
    for row in rows:
        print(f"{row[0]:<28}{row[1]:>16}{row[2]:>16}{row[3]:>14}")
    print(flush=True)
    return speed_ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=960)
    parser.add_argument("--video-frames", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="best of N interleaved runs of each side (>= 3)")
    parser.add_argument("--child-project", nargs=2, metavar=("DICOM", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-strict", nargs=2, metavar=("DICOM", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-remux", nargs=2, metavar=("DICOM", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_project:
        run_project_child(*args.child_project)
        return 0
    if args.child_strict:
        run_strict_child(*args.child_strict)
        return 0
    if args.child_remux:
        run_remux_child(*args.child_remux)
        return 0
    repeat = max(args.repeat, 3)

    import imageio_ffmpeg

    from anonymizer.video.transcode import ENCODER_PRESET, X264_CRF

    x264 = X264Settings()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    checks = []
    with tempfile.TemporaryDirectory(prefix="bench-previews-") as tmp:
        tmp = Path(tmp)
        dicom, raw = tmp / "clip.dcm", tmp / "frames.rgb"
        print(f"building a {args.frames}-frame {WIDTH}x{HEIGHT} JPEG Baseline YBR_FULL_422 clip...", flush=True)
        build_clip(dicom, args.frames)
        decode_to_raw(dicom, raw)
        print(f"DICOM {dicom.stat().st_size / 1e6:.1f} MB; decoded frames {raw.stat().st_size / 1e6:.0f} MB; "
              f"x264 -preset {x264.preset} -crf {x264.crf}; {os.cpu_count()} CPUs; best of {repeat}\n", flush=True)
        project, reference = best_of_interleaved(
            repeat, lambda run: measure_reference(raw, tmp / f"ref-{run}.mp4", x264, args.frames),
            lambda run: measure_project(dicom, tmp / f"out-{run}"))
        raw.unlink()
        ratio = print_comparison("JPEG clip -> MP4", project, reference, args.frames)
        checks += [
            (f"JPEG clip: speed >= {TARGET_SPEED_RATIO} of x264 on decoded frames", ratio >= TARGET_SPEED_RATIO),
            (f"JPEG clip: peak memory < {TARGET_PEAK_MB} MB (python + ffmpeg)",
             project["python_peak_mb"] + project["ffmpeg_peak_mb"] < TARGET_PEAK_MB),
            (f"JPEG clip: file <= {TARGET_SIZE_RATIO}x the reference",
             project["bytes"] / reference["bytes"] <= TARGET_SIZE_RATIO),
        ]

        frames = args.video_frames
        video, stream = tmp / "h264.dcm", tmp / "stream.ts"
        print(f"building a {frames}-frame {VIDEO_WIDTH}x{VIDEO_HEIGHT} H.264 High clip (MPEG-TS in DICOM)...",
              flush=True)
        build_h264_clip(video, stream, frames)
        project, reference = best_of_interleaved(
            repeat,
            lambda run: measure_command(
                [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(stream), "-map", "0:v:0",
                 "-c", "copy", "-movflags", "+faststart", str(tmp / f"copy-{run}.mp4")],
                tmp / f"copy-{run}.mp4", frames),
            lambda run: measure_child("--child-remux", video, tmp / f"remux-{run}"))
        ratio = print_comparison("H.264 remux (ffmpeg -c copy)", project, reference, frames)
        print(f"the whole preview job (check, remux, poster, thumbnail): {project['job_seconds']:.2f} s\n")
        checks += [
            (f"H.264 remux: within {1 / TARGET_REMUX_RATIO:.0f}x of ffmpeg -c copy", ratio >= TARGET_REMUX_RATIO),
            (f"H.264 remux: peak memory < {TARGET_VIDEO_PEAK_MB} MB",
             project["python_peak_mb"] + project["ffmpeg_peak_mb"] < TARGET_VIDEO_PEAK_MB),
        ]

        decode_video_to_raw(stream, raw)
        strict_x264 = X264Settings(preset=ENCODER_PRESET, crf=int(X264_CRF))
        project, reference = best_of_interleaved(
            repeat,
            lambda run: measure_reference(raw, tmp / f"x264-{run}.mp4", strict_x264, frames,
                                          size=(VIDEO_WIDTH, VIDEO_HEIGHT)),
            lambda run: measure_child("--child-strict", video, tmp / f"strict-{run}.dcm"))
        ratio = print_comparison(f"H.264 strict (x264 {ENCODER_PRESET} crf {X264_CRF})", project, reference, frames)
        checks += [
            (f"H.264 strict: speed >= {TARGET_STRICT_RATIO} of x264 on decoded frames", ratio >= TARGET_STRICT_RATIO),
            (f"H.264 strict: peak memory < {TARGET_VIDEO_PEAK_MB} MB", project["python_peak_mb"] < TARGET_VIDEO_PEAK_MB),
        ]

    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
