"""Frame source and remux for the video transfer syntaxes (MPEG-2, H.264, HEVC in DICOM).

A clip whose stream already plays in every browser -- H.264 in 4:2:0 8-bit
with timestamps (an MPEG-TS or MP4 container), no larger than the patient
maximum -- is copied into the MP4 packet by packet, without decoding or
re-encoding: nothing is lost and it takes a fraction of a second.  Any
other stream (MPEG-2, HEVC, 10-bit, an elementary stream without
timestamps, or too large) is decoded by FFmpeg, scaled by swscale while
decoding, and handed to the MP4 sink like any other clip.

The MP4 gets only the video: no audio, no container metadata (title,
service name ...), and the SEI NAL units of H.264 (type 6, where encoders
write user data) are dropped by FFmpeg's ``filter_units`` bitstream filter.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import av
import numpy as np
import pydicom
from pydicom.dataset import Dataset

from anonymizer.errors import AnonymizationError
from anonymizer.pixels.stream import PixelElement, locate_pixel_element
from anonymizer.video import (
    VideoBitstream, VideoInfo, copy_video_packets, iter_frames, open_container, probe_video, video_syntax,
)

from .atomic import atomic_output
from .errors import PreviewError

# What plays inline in Safari, Chrome and Firefox on phones and desktops.
REMUXABLE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})


def pixel_element(path: Path, header: Dataset) -> PixelElement:
    """Where the encapsulated stream sits in `path`."""
    syntax = header.file_meta.TransferSyntaxUID
    with path.open("rb") as f:
        pydicom.dcmread(f, stop_before_pixels=True)
        try:
            element = locate_pixel_element(f, str(path), implicit_vr=syntax.is_implicit_VR,
                                           little_endian=syntax.is_little_endian)
        except AnonymizationError as exc:
            raise PreviewError(str(exc)) from None
    if element is None or not element.encapsulated:
        raise PreviewError("a video transfer syntax needs encapsulated pixel data")
    return element


def describe(element: PixelElement, header: Dataset) -> VideoInfo:
    """Decode the first frame; a clear reason when the stream does not play."""
    try:
        with VideoBitstream.from_element(element) as stream:
            return probe_video(stream, video_syntax(header.file_meta.TransferSyntaxUID))
    except AnonymizationError as exc:
        raise PreviewError(str(exc)) from None


def can_remux(info: VideoInfo, *, max_side: int) -> bool:
    """Whether the stream can go into the patient's MP4 as it is."""
    return (
        info.codec == "h264" and info.profile in REMUXABLE_PROFILES and info.pixel_format == "yuv420p"
        and info.has_timestamps and max(info.width, info.height) <= max_side
    )


def display_header(header: Dataset) -> Dataset:
    """The header as the display mapping should see decoded video: 8-bit RGB."""
    display = copy.copy(header)
    display.PhotometricInterpretation = "RGB"
    display.SamplesPerPixel = 3
    display.BitsAllocated = display.BitsStored = 8
    display.HighBit = 7
    display.PixelRepresentation = 0
    return display


def decoded_frames(element: PixelElement, *, width: int, height: int, first=None):
    """A frame iterator factory: RGB ``uint8`` frames scaled by swscale to `width` x `height`.

    `first`, the first frame already decoded by the check, serves a request for frame 0 alone
    (the poster) without opening the stream again.
    """

    def iterate(indices: Iterable[int] | None) -> Iterator[np.ndarray]:
        if first is not None and indices is not None and list(indices) == [0]:
            yield first.to_ndarray(format="rgb24", width=width, height=height)
            return
        wanted = None if indices is None else set(indices)
        last = None if wanted is None else max(wanted, default=-1)
        try:
            with VideoBitstream.from_element(element) as stream:
                for index, frame in enumerate(iter_frames(stream, width=width, height=height)):
                    if last is not None and index > last:
                        return
                    if wanted is None or index in wanted:
                        yield frame
        except AnonymizationError as exc:
            raise PreviewError(str(exc)) from None

    return iterate


def remux_to_mp4(element: PixelElement, path: Path) -> int:
    """Copy the H.264 stream into a faststart MP4 at `path`; return the frames copied.

    Raises
    ------
    PreviewError
        FFmpeg cannot demux or mux the stream.
    """
    try:
        with VideoBitstream.from_element(element) as stream, atomic_output(path) as tmp:
            container, video = open_container(stream, threads=False)
            with closing(container):
                return _copy_packets(container, video, tmp)
    except AnonymizationError as exc:
        raise PreviewError(str(exc)) from None
    except (av.FFmpegError, ValueError) as exc:
        raise PreviewError(f"the clip could not be copied into an MP4: {exc}") from None


def _copy_packets(container, video, tmp: Path) -> int:
    # +faststart: the index (moov) before the media, so playback starts before the download ends.
    with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
        return copy_video_packets(container, video, output, "h264")
