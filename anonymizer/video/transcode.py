"""Decode a video stream, clean its frames, and re-encode it in the same family.

FFmpeg's libraries (through PyAV, which bundles them with x264 and x265)
do the codec work; this module keeps the promises around it:

* the first frame must decode, or the file is refused with a reason;
* the re-encoded stream keeps the source's codec family, container,
  picture size, frame count and timestamps (so its frame rate), within the
  profile and level of its transfer syntax (:mod:`.syntaxes`);
* only the video is kept: audio tracks, subtitles and data streams, which
  can hold a spoken or written identifier, are not copied;
* memory stays at a few frames: frames are decoded, cleaned and encoded
  one at a time, and the output goes to a temporary file.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from ..errors import AnonymizationError
from .syntaxes import USER_DATA_FILTERS, VideoSyntax

# FFmpeg's demuxer name -> the muxer that writes the same container.
CONTAINERS = {
    "mpegts": "mpegts",
    "mpeg": "vob",  # MPEG-2 program stream
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "h264": "h264",
    "hevc": "hevc",
    "mpegvideo": "mpeg2video",
}
# Bare elementary streams carry no timestamps: frames are numbered at the stream's rate.
ELEMENTARY = frozenset({"h264", "hevc", "mpegvideo"})

# The decoder names FFmpeg reports, per family of the transfer syntax.
DECODERS = {"mpeg2": ("mpeg2video", "mpeg1video"), "h264": ("h264",), "hevc": ("hevc",)}

# FFmpeg's AVStereo3DType -> x264's --frame-packing (H.264 Table D-8, frame_packing_arrangement_type).
STEREO3D_TO_X264 = {1: 3, 2: 4, 3: 5, 4: 0, 5: 3, 6: 2, 7: 1}

# Near-transparent re-encoding: the output is an archive copy, not a preview.
X264_CRF, X265_CRF = "18", "20"
ENCODER_PRESET = "veryfast"
# MPEG-2 has no constant-quality mode in FFmpeg's encoder; aim at the source's bit rate.
MPEG2_MIN_BITRATE = 4_000_000
CHUNK = 1 << 20
READ_BUFFER = 1 << 20
FALLBACK_RATE = Fraction(30)


@dataclass(frozen=True)
class VideoInfo:
    """What the first decoded frame says about a stream.

    Attributes
    ----------
    container : str
        FFmpeg's demuxer name (``mpegts``, ``mov,mp4,…``, ``h264`` …).
    codec : str
        The decoder (``h264``, ``hevc``, ``mpeg2video``).
    profile : str | None
        As FFmpeg names it (``High``, ``Main 10`` …).
    width, height : int
        Picture size.
    pixel_format : str
        E.g. ``yuv420p``, ``yuv420p10le``.
    rate : fractions.Fraction | None
        The stream's frame rate when it declares one.
    first_frame : av.VideoFrame
        The decoded first frame, for a caller that shows it (a poster).
    """

    container: str
    codec: str
    profile: str | None
    width: int
    height: int
    pixel_format: str
    rate: Fraction | None
    first_frame: object = field(default=None, repr=False, compare=False)

    @property
    def has_timestamps(self) -> bool:
        return self.container not in ELEMENTARY


def open_container(stream: BinaryIO, *, threads: bool = True):
    """Open ``stream`` with FFmpeg, probing its container; return (container, video stream).

    ``threads`` turns on frame threading, which pays off over a whole clip
    but delays the first frame (a check needs only that one).

    Raises
    ------
    AnonymizationError
        Not a stream FFmpeg can read, or one without video.
    """
    try:
        # Large reads: each one is a Python call into the fragment reader.
        container = av.open(stream, mode="r", buffer_size=READ_BUFFER)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AnonymizationError(f"the video stream cannot be read: {_ffmpeg_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise AnonymizationError("the video's Pixel Data holds no video track")
    video = container.streams.video[0]
    if threads:
        video.thread_type = "AUTO"  # frame threads: both cores decode
    return container, video


def probe_video(stream: BinaryIO, syntax: VideoSyntax | None = None) -> VideoInfo:
    """Decode the first frame and describe the stream.

    Parameters
    ----------
    stream : binary file
        The video bitstream (:class:`.bitstream.VideoBitstream`).
    syntax : VideoSyntax, optional
        When given, the codec must belong to its family.

    Raises
    ------
    AnonymizationError
        No frame decodes, or the codec is not the one the transfer syntax names.
    """
    container, video = open_container(stream, threads=False)
    with closing(container):
        first = next(_decoded(container, video), None)
        if first is None:
            raise AnonymizationError("the video stream holds no decodable frame")
        info = VideoInfo(
            container=container.format.name, codec=video.codec_context.name,
            profile=video.codec_context.profile, width=first.width, height=first.height,
            pixel_format=first.format.name, rate=_declared_rate(video), first_frame=first,
        )
    if syntax is not None and info.codec not in DECODERS[syntax.family]:
        raise AnonymizationError(
            f"the transfer syntax says {syntax.family.upper()} but the stream is {info.codec}")
    return info


def iter_frames(stream: BinaryIO, *, pixel_format: str = "rgb24", width: int | None = None,
                height: int | None = None) -> Iterator[np.ndarray]:
    """Yield every frame as an array, scaled by FFmpeg's swscale when a size is given.

    Raises
    ------
    AnonymizationError
        A frame cannot be decoded.
    """
    container, video = open_container(stream)
    with closing(container):
        for frame in _decoded(container, video):
            yield frame.to_ndarray(format=pixel_format, width=width, height=height)


@dataclass
class EncodedVideo:
    """A re-encoded stream in a temporary file, ready to be written as Pixel Data.

    Attributes
    ----------
    length : int
        Bytes of the stream.
    frames : int
        Frames encoded.
    """

    file: BinaryIO
    length: int
    frames: int

    def chunks(self) -> Iterator[bytes]:
        """The stream's bytes, a megabyte at a time; the file is closed (deleted) after."""
        with self.file:
            self.file.seek(0)
            while chunk := self.file.read(CHUNK):
                yield chunk


def reencode_video(stream: BinaryIO, syntax: VideoSyntax, *, clean: Callable[[np.ndarray], object],
                   expected_frames: int, fallback_rate: Fraction | None = None) -> EncodedVideo:
    """Decode every frame, let ``clean`` edit it in place, and encode it again in kind.

    Parameters
    ----------
    stream : binary file
        The source bitstream.
    syntax : VideoSyntax
        The source's transfer syntax row: encoder, profile, level.
    clean : callable
        Called with each decoded frame as an RGB array (``uint8``, or
        ``uint16`` for 10-bit sources), which it changes in place.
    expected_frames : int
        NumberOfFrames: the stream must hold exactly that many.
    fallback_rate : Fraction, optional
        For elementary streams that declare no rate (from Frame Time).

    Returns
    -------
    EncodedVideo

    Raises
    ------
    AnonymizationError
        The stream does not decode, or holds another number of frames.
    """
    rgb = "rgb48le" if syntax.bit_depth > 8 else "rgb24"
    container, video = open_container(stream)
    output_file = tempfile.TemporaryFile()
    try:
        with closing(container):
            muxer = CONTAINERS.get(container.format.name)
            if muxer is None:
                raise AnonymizationError(f"the video container {container.format.name} is not one DICOM allows")
            declared = None if container.format.name in ELEMENTARY else _declared_rate(video)
            rate = declared or fallback_rate or _declared_rate(video) or FALLBACK_RATE
            count = _encode_all(container, video, output_file, muxer, syntax, rgb, rate, clean,
                                source_bytes=getattr(stream, "length", 0), expected_frames=expected_frames)
        if count != expected_frames:
            raise AnonymizationError(
                f"the video holds {count} frame(s) but NumberOfFrames says {expected_frames}")
        length = output_file.seek(0, 2)
        return EncodedVideo(output_file, length, count)
    except BaseException:
        output_file.close()
        raise


def rewrap_video(stream: BinaryIO, syntax: VideoSyntax, *, expected_frames: int) -> EncodedVideo | None:
    """Copy only the video, packet by packet, into the same container: no re-encoding.

    For a clip whose pixels are not cleaned: audio, subtitles, data tracks,
    container metadata and the codec's user data (:data:`USER_DATA_FILTERS`)
    are left behind. Returns None for an elementary stream, which has no
    container and no other track to leave behind.

    Raises
    ------
    AnonymizationError
        The stream cannot be demuxed, or holds another number of frames.
    """
    container, video = open_container(stream, threads=False)
    with closing(container):
        if container.format.name in ELEMENTARY:
            return None
        muxer = CONTAINERS.get(container.format.name)
        if muxer is None:
            raise AnonymizationError(f"the video container {container.format.name} is not one DICOM allows")
        output_file = tempfile.TemporaryFile()
        try:
            with av.open(output_file, mode="w", format=muxer) as output:
                count = copy_video_packets(container, video, output, syntax.family)
            if count != expected_frames:
                raise AnonymizationError(
                    f"the video holds {count} frame(s) but NumberOfFrames says {expected_frames}")
            return EncodedVideo(output_file, output_file.seek(0, 2), count)
        except av.FFmpegError as exc:
            output_file.close()
            raise AnonymizationError(f"the video could not be copied: {_ffmpeg_reason(exc)}") from None
        except BaseException:
            output_file.close()
            raise


def copy_video_packets(container, video, output, family: str) -> int:
    """Mux `video`'s packets into `output` through the family's user-data filter; return the count."""
    target = output.add_stream_from_template(video)
    target.metadata.clear()
    user_data = av.bitstream.BitStreamFilterContext(USER_DATA_FILTERS[family], video)
    copied = 0
    for packet in container.demux(video):
        # The demuxer ends with an empty packet, which flushes the filter. (Filtering takes the
        # packet's data, so decide before.)
        last = packet.dts is None
        for filtered in user_data.filter(None if last else packet):
            filtered.stream = target
            output.mux(filtered)
            copied += 1
        if last:
            break
    return copied


def _encode_all(container, video, output_file, muxer, syntax, rgb, rate, clean, *, source_bytes, expected_frames) -> int:
    output = av.open(output_file, mode="w", format=muxer)
    count = 0
    try:
        encoder = None
        for frame in _decoded(container, video):
            if encoder is None:
                encoder = _add_encoder(output, syntax, frame, video, rate,
                                       source_bytes=source_bytes, frames=expected_frames)
            pixels = frame.to_ndarray(format=rgb)
            clean(pixels)
            cleaned = av.VideoFrame.from_ndarray(pixels, format=rgb)
            if frame.pts is not None and frame.time_base is not None:
                cleaned.pts, cleaned.time_base = frame.pts, frame.time_base
            else:
                cleaned.pts, cleaned.time_base = count, 1 / rate
            output.mux(encoder.encode(cleaned))
            count += 1
        if encoder is not None:
            output.mux(encoder.encode(None))
    except av.FFmpegError as exc:
        raise AnonymizationError(f"the video could not be re-encoded: {_ffmpeg_reason(exc)}") from None
    finally:
        output.close()
    return count


def _add_encoder(output, syntax: VideoSyntax, first, source, rate: Fraction, *, source_bytes: int, frames: int):
    encoder = output.add_stream(syntax.encoder, rate=rate)
    encoder.width, encoder.height = first.width, first.height
    encoder.pix_fmt = "yuv420p10le" if syntax.bit_depth > 8 else "yuv420p"
    options = dict(syntax.options)
    if syntax.family == "h264":
        options.update(crf=X264_CRF, preset=ENCODER_PRESET)
        packing = _x264_frame_packing(first)
        if packing is not None:
            # 3D video (PS3.5 8.2.8): the frame-packing SEI says how the two views share a picture.
            options["x264-params"] = f"{options.get('x264-params', '')}:frame-packing={packing}".lstrip(":")
    elif syntax.family == "hevc":
        options.update(crf=X265_CRF, preset=ENCODER_PRESET)
    else:
        seconds = frames / float(rate) if rate else 0
        source_rate = int(source_bytes * 8 / seconds) if seconds else 0
        encoder.bit_rate = min(max(source_rate, MPEG2_MIN_BITRATE), int(options["maxrate"]))
    encoder.options = options
    # The colour description travels with the stream: same primaries, matrix and range as the source.
    context, original = encoder.codec_context, source.codec_context
    for attribute in ("color_primaries", "color_trc", "colorspace", "color_range"):
        value = getattr(original, attribute, None)
        if value is not None:
            setattr(context, attribute, value)
    return encoder


def _x264_frame_packing(frame) -> int | None:
    """x264's --frame-packing for the source's stereo 3D arrangement, None for 2D."""
    for side_data in frame.side_data:
        if side_data.type.name == "STEREO3D":
            (kind,) = struct.unpack_from("<i", bytes(side_data))
            return STEREO3D_TO_X264.get(kind)
    return None


def _decoded(container, video) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(video)
    except av.FFmpegError as exc:
        raise AnonymizationError(f"the video stream cannot be decoded: {_ffmpeg_reason(exc)}") from None


def _declared_rate(video) -> Fraction | None:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if rate:
            return Fraction(rate)
    return None


def _ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's own words, without the object name PyAV appends (it may be a path)."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return str(reason).split(":")[0].strip() or type(exc).__name__
