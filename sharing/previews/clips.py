"""The MP4 sink: pipe 8-bit frames to the bundled ffmpeg's x264.

The output is what every mobile and desktop browser plays inline: H.264
High profile, 4:2:0, even dimensions, the index (moov) before the media
(mdat) so playback starts before the download ends, and no metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import simplejpeg

from .atomic import atomic_output
from .errors import PreviewError

# x264 -preset veryfast -crf 23 is the size/speed point the product is
# measured against (bench/bench_previews.py).
CLIP_PRESET = "veryfast"
CLIP_CRF = 23

# How long ffmpeg may take to finish once the last frame is sent.
_FINISH_TIMEOUT_S = 300
_STDERR_KEEP_CHARS = 1200

# Linux F_SETPIPE_SZ: a 1 MiB pipe holds a whole 640x480 RGB frame, so the
# writer does not wake ffmpeg up sixteen times per frame.
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class RawFrames:
    """What goes down ffmpeg's stdin.

    Attributes
    ----------
    width, height : int
        Frame size as sent; odd sizes are padded (never scaled) to even.
    pixel_format : {"gray", "rgb24"}
        Grey goes as ``gray``: a third of the bytes of RGB, and no chroma
        to lose.
    fps : fractions.Fraction
        Passed as ``num/den`` so that 30 fps is exactly 30, not 29.99997.
    """

    width: int
    height: int
    pixel_format: str
    fps: Fraction

    @property
    def frame_shape(self) -> tuple[int, ...]:
        if self.pixel_format == "gray":
            return (self.height, self.width)
        return (self.height, self.width, 3)


@dataclass(frozen=True)
class X264Settings:
    """x264 speed preset, constant rate factor and thread count (None: ffmpeg picks)."""

    preset: str = CLIP_PRESET
    crf: int = CLIP_CRF
    threads: int | None = None


def ffmpeg_command(raw: RawFrames, output: Path, x264: X264Settings = X264Settings()) -> list[str]:
    """The ffmpeg invocation that encodes raw frames from stdin to `output`.

    Parameters
    ----------
    raw : RawFrames
    output : pathlib.Path
        An ``.mp4`` path.
    x264 : X264Settings

    Returns
    -------
    list of str
    """
    fps = raw.fps
    source = [
        "-f", "rawvideo", "-pix_fmt", raw.pixel_format,
        "-video_size", f"{raw.width}x{raw.height}",
        "-framerate", f"{fps.numerator}/{fps.denominator}",
    ]
    return _command(source, raw.width, raw.height, output, x264)


def jpeg_ffmpeg_command(width: int, height: int, fps: Fraction, output: Path,
                        x264: X264Settings = X264Settings()) -> list[str]:
    """The ffmpeg invocation that decodes concatenated JPEG frames from stdin and encodes them.

    ffmpeg's own JPEG decoder runs in the encoder's process, so the frames
    never cross the pipe decoded (30 times fewer bytes) and no Python work
    sits on x264's critical path. Sizes are the JPEG's own.
    """
    # A damaged frame must fail the clip, as libjpeg-turbo's strict decode does, not be concealed:
    # the decoder reports every error (explode) and ffmpeg stops at the first (-xerror).
    source = ["-xerror", "-err_detect", "explode", "-f", "mjpeg", "-framerate", f"{fps.numerator}/{fps.denominator}"]
    return _command(source, width, height, output, x264)


def _command(source: list[str], width: int, height: int, output: Path, x264: X264Settings) -> list[str]:
    even_width, even_height = width + width % 2, height + height % 2
    filters = []
    if (even_width, even_height) != (width, height):
        filters.append(f"pad={even_width}:{even_height}:0:0:color=black")
    filters.append("format=yuv420p")
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner", "-nostats", "-loglevel", "error", "-y",
        *source,
        "-i", "pipe:0",
        "-an", "-sn", "-dn",
        "-vf", ",".join(filters),
        "-c:v", "libx264", "-preset", x264.preset, "-crf", str(x264.crf),
        # High profile 4:2:0 8-bit decodes in hardware on every phone since
        # the iPhone 4S; yuv444 or 10-bit would not play in Safari.
        "-profile:v", "high", "-pix_fmt", "yuv420p",
        # swscale converts RGB with the BT.601 matrix; say so, or browsers
        # that assume BT.709 would tint colour Doppler.
        "-colorspace", "smpte170m", "-color_primaries", "smpte170m",
        "-color_trc", "smpte170m", "-color_range", "tv",
        # No title, comment, creation time or encoder version string; the
        # x264 SEI (NAL type 6) holding its settings banner is dropped too.
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-metadata:s:v:0", "encoder=",
        "-bsf:v", "filter_units=remove_types=6",
        "-movflags", "+faststart",
    ]
    if x264.threads:
        command += ["-threads", str(x264.threads)]
    return command + ["-f", "mp4", str(output)]


def encode_clip(
    frames: Iterable[np.ndarray], path: Path, raw: RawFrames, x264: X264Settings = X264Settings()
) -> int:
    """Encode 8-bit frames into an H.264 MP4 at `path`.

    Frames are written to ffmpeg's stdin as they come, so only the frame
    being written is held in memory. ffmpeg is always waited for (or
    killed) before returning, leaving no zombie, and `path` appears only
    once the file is complete.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        ``uint8`` frames of ``raw.frame_shape``.
    path : pathlib.Path
        Destination ``.mp4``.
    raw : RawFrames
    x264 : X264Settings

    Returns
    -------
    int
        The number of frames encoded.

    Raises
    ------
    PreviewError
        When a frame has the wrong shape, when iterating `frames` raises
        it, or when ffmpeg fails (with the end of ffmpeg's own message).
    """
    expected_shape = raw.frame_shape

    def chunks() -> Iterator[memoryview]:
        for index, frame in enumerate(frames):
            if frame.shape != expected_shape or frame.dtype != np.uint8:
                raise PreviewError(
                    f"frame {index} is {frame.dtype} {frame.shape}, "
                    f"expected uint8 {expected_shape}"
                )
            yield np.ascontiguousarray(frame).data

    return _run_encoder(lambda tmp: ffmpeg_command(raw, tmp, x264), chunks(), path)


def encode_jpeg_clip(
    fragments: Iterable[bytes], path: Path, *, width: int, height: int, fps: Fraction,
    x264: X264Settings = X264Settings(),
) -> int:
    """Encode JPEG frames, as stored in the DICOM file, into an H.264 MP4 at `path`.

    Each frame's JPEG header is checked (and its size against `width` x
    `height`) before it is sent, so a broken frame is named by its index;
    the MP4 must then hold every frame sent.

    Returns
    -------
    int
        The number of frames encoded.

    Raises
    ------
    PreviewError
        As :func:`encode_clip`.
    """

    def checked() -> Iterator[bytes]:
        for index, fragment in enumerate(fragments):
            try:
                rows, columns = simplejpeg.decode_jpeg_header(fragment)[:2]
            except Exception as exc:
                raise PreviewError(f"frame {index} could not be decoded: {exc}") from exc
            if (columns, rows) != (width, height):
                raise PreviewError(f"frame {index} is {columns}x{rows}, the header says {width}x{height}")
            yield fragment

    written = _run_encoder(lambda tmp: jpeg_ffmpeg_command(width, height, fps, tmp, x264), checked(), path)
    with av.open(str(path)) as container:
        encoded = container.streams.video[0].frames
    if encoded != written:
        path.unlink(missing_ok=True)
        raise PreviewError(f"{written} JPEG frames were sent, ffmpeg encoded {encoded}")
    return written


def _run_encoder(command: Callable[[Path], list[str]], chunks: Iterable, path: Path) -> int:
    """Start ffmpeg, feed it `chunks` (one per frame) and publish `path` once it succeeds."""
    with atomic_output(path) as tmp, tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                command(tmp), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr
            )
        except OSError as exc:
            raise PreviewError(f"ffmpeg could not be started: {exc}") from exc
        written = 0
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(process.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
            for chunk in chunks:
                try:
                    process.stdin.write(chunk)
                except BrokenPipeError:
                    # ffmpeg quit early; its exit status and stderr say why.
                    break
                written += 1
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            returncode = process.wait(timeout=_FINISH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PreviewError(f"ffmpeg did not finish within {_FINISH_TIMEOUT_S} s") from None
        finally:
            _reap(process)
        if returncode != 0:
            raise PreviewError(f"ffmpeg failed (exit {returncode}): {_tail(stderr)}")
        if written == 0:
            raise PreviewError("no frame to encode")
    return written


def _reap(process: subprocess.Popen) -> None:
    """Kill ffmpeg if it is still running, and always collect its status."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        process.stdin.close()
    process.wait()


def _tail(stderr) -> str:
    """ffmpeg's diagnostic, trimmed: the first lines usually hold the cause."""
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    # "[libx264 @ 0x55d0c...]": the addresses only make messages unique.
    text = re.sub(r" @ 0x[0-9a-f]+", "", text)
    if len(text) > _STDERR_KEEP_CHARS:
        half = _STDERR_KEEP_CHARS // 2
        text = f"{text[:half]} [...] {text[-half:]}"
    return text or "(no message)"
