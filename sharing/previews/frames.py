"""Frame sources: decode a DICOM instance one frame at a time.

A clip of 960 frames decoded at once with ``ds.pixel_array`` needs
gigabytes; here a frame is decoded, handed on and dropped before the
next one is read, so memory stays at a few frames whatever the length.

Two decoders stand behind one interface:

* JPEG Baseline YBR (and 8-bit greyscale) frames, by far the commonest
  ultrasound clip encoding, are decoded straight from their encapsulated
  fragments by libjpeg-turbo (simplejpeg, else Pillow), which is several
  times faster than pydicom's generic route and already returns RGB. The first frame is
  checked against pydicom's own decoding; if they disagree the generic
  route is used for the whole instance.
* Everything else goes through :func:`pydicom.pixels.iter_pixels`, reading
  the pixel data lazily from the file. pydicom converts YBR_FULL and
  YBR_FULL_422 to RGB itself, so no further colour conversion is needed
  (or allowed: converting twice shifts every colour).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder, iter_pixels, pixel_array
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UID,
)

from anonymizer.defects import library_words
from anonymizer.video import is_video_syntax

from . import video
from .errors import NotAnImage, PreviewError
from .sizing import PATIENT_MAX_SIDE, check_pixel_budget, fit, patient_size

try:
    import simplejpeg
except ImportError:  # a declared dependency; Pillow is the slower fallback
    simplejpeg = None

# A fast-path frame may differ from pydicom's reference decoding by the
# rounding of two different YCbCr->RGB implementations (<= 1 level on
# average); anything more means the codestream is not what the header says.
_FAST_PATH_TOLERANCE = 1.0

# Above this many pixels per frame, the fast path is not checked against pydicom's full-size decode.
AGREEMENT_CHECK_MAX_PIXELS = 4096 * 4096

# Above this size a file is only ever decoded lazily, frame by frame.
WHOLE_READ_LIMIT = 64 * 1024 * 1024

_FAST_PATH_PHOTOMETRICS = {
    3: ("YBR_FULL_422", "YBR_FULL"),
    1: ("MONOCHROME1", "MONOCHROME2"),
}


@dataclass(frozen=True)
class FrameSource:
    """The frames of one DICOM instance, decoded lazily.

    Attributes
    ----------
    header : pydicom.dataset.Dataset
        Every element before *Pixel Data* (image pixel module, LUTs, timing).
    frame_count : int
        *Number of Frames*, 1 when absent.
    rows, columns : int
        Frame size in pixels.
    decoder : str
        ``"jpeg-fragments"``, ``"video"`` or ``"pydicom"``: which route decodes frames.
    size : tuple of int
        (width, height) of the preview: the frame size, scaled down to the
        patient maximum (:mod:`.sizing`). The JPEG and video routes decode
        straight to it; pydicom's decodes full size and the renderer fits.
    remux : callable or None
        For a video stream that browsers play as it is: copies it into an
        MP4 at the given path without re-encoding, returns the frame count.
    encoded_frames : callable or None
        For the JPEG route: returns an iterator over the frames' JPEG
        codestreams, which ffmpeg can decode itself.
    """

    header: Dataset
    frame_count: int
    rows: int
    columns: int
    decoder: str
    _iterate: Callable[[Iterable[int] | None], Iterator[np.ndarray]]
    size: tuple[int, int] = (0, 0)
    remux: Callable[[Path], int] | None = None
    encoded_frames: Callable[[], Iterator[bytes]] | None = None

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """Yield decoded frames, in file order, one at a time.

        Parameters
        ----------
        indices : iterable of int, optional
            Only these frames (ascending); all frames when omitted.

        Yields
        ------
        numpy.ndarray
            ``(rows, columns)`` for one sample per pixel, ``(rows, columns,
            3)`` for colour, with YBR already converted to RGB; at
            :attr:`size` for the routes that scale while decoding.

        Raises
        ------
        PreviewError
            When a frame cannot be decoded; the message names its index.
        """
        return self._iterate(indices)


def open_frame_source(path: str | Path) -> FrameSource:
    """Read the header of a DICOM file and prepare to decode its frames.

    Parameters
    ----------
    path : str or pathlib.Path
        A DICOM Part 10 file.

    Returns
    -------
    FrameSource
        Nothing is decoded yet.

    Raises
    ------
    PreviewError
        If the file is not DICOM, has no pixel data, or uses a transfer
        syntax that no installed decoder supports.
    """
    path = Path(path)
    header = read_header(path)
    syntax = UID(header.file_meta.TransferSyntaxUID)
    try:
        frame_count = int(header.get("NumberOfFrames") or 1)
        rows, columns = int(header.Rows), int(header.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise PreviewError(f"the image pixel module is incomplete: {exc}") from exc
    if frame_count < 1 or rows < 1 or columns < 1:
        raise PreviewError(
            f"nothing to render: {frame_count} frames of {columns}x{rows} pixels"
        )
    if is_video_syntax(syntax):
        check_pixel_budget(columns, rows, frame_count, decoder_scales=True)
        return _video_source(path, header, frame_count)
    _require_decoder(syntax)
    jpeg = _suits_jpeg_fragments(header, syntax)
    check_pixel_budget(columns, rows, frame_count, decoder_scales=jpeg)
    size = patient_size(columns, rows)

    if syntax == DeflatedExplicitVRLittleEndian:
        # The whole dataset is deflated as one stream, so pixel data cannot be
        # reached by seeking in the file; such files are small in practice.
        iterate = _whole_dataset_frames(path)
        decoder = "pydicom"
    elif jpeg and (rows * columns > AGREEMENT_CHECK_MAX_PIXELS or _fast_path_agrees(path, header, frame_count)):
        # Above the check's size pydicom's reference decode would itself be the memory problem
        # (issue 16.4): libjpeg-turbo reads the colour transform from the markers, as viewers do.
        return FrameSource(header, frame_count, rows, columns, "jpeg-fragments",
                           _jpeg_fragment_frames(path, header, frame_count, size), size=size,
                           encoded_frames=lambda: jpeg_fragments(path, header, frame_count))
    else:
        check_pixel_budget(columns, rows, frame_count, decoder_scales=False)
        iterate = _pydicom_frames(path)
        decoder = "pydicom"
    return FrameSource(header, frame_count, rows, columns, decoder, iterate, size=size)


def _video_source(path: Path, header: Dataset, frame_count: int) -> FrameSource:
    """MPEG-2, H.264 and HEVC: FFmpeg decodes (the first frame now, as a check) and scales."""
    element = video.pixel_element(path, header)
    info = video.describe(element, header)
    width, height = patient_size(info.width, info.height)
    remux = None
    if video.can_remux(info, max_side=PATIENT_MAX_SIDE):
        def remux(output: Path) -> int:
            return video.remux_to_mp4(element, output)
    iterate = video.decoded_frames(element, width=width, height=height, first=info.first_frame)
    return FrameSource(video.display_header(header), frame_count, info.height, info.width, "video", iterate,
                       size=(width, height), remux=remux)


def read_header(path: Path) -> Dataset:
    """Return every element before *Pixel Data*, with the file meta.

    Raises
    ------
    NotAnImage
        If the file is not DICOM or has no pixel data.
    PreviewError
        If the file cannot be read.
    """
    try:
        with path.open("rb") as f:
            header = pydicom.dcmread(f, stop_before_pixels=True)
            if "TransferSyntaxUID" not in getattr(header, "file_meta", {}):
                raise PreviewError("the file meta has no Transfer Syntax UID")
            # A deflated file is read through zlib, so its position says
            # nothing; its pixel data is checked when decoded.
            deflated = header.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
            if not deflated and not _at_pixel_data(f):
                raise NotAnImage("the instance has no pixel data")
    except InvalidDicomError as exc:
        raise NotAnImage(f"not a DICOM file: {library_words(exc, fallback='no DICOM header')}") from exc
    except PreviewError:
        raise
    except Exception as exc:  # inside pydicom's reader: the file does not parse
        words = library_words(exc, fallback="the header does not parse")
        raise PreviewError(f"not a readable DICOM file: {words}") from exc
    return header


def _at_pixel_data(f: io.BufferedReader) -> bool:
    """Whether `f`, left by ``stop_before_pixels``, stands at a pixel data tag."""
    tag = f.read(4)
    # (7FE0,0010) Pixel Data, (7FE0,0008) Float, (7FE0,0009) Double Float,
    # in either byte order.
    return tag[:2] in (b"\xe0\x7f", b"\x7f\xe0") and len(tag) == 4


def _require_decoder(syntax: UID) -> None:
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise PreviewError(
            f"unsupported transfer syntax {syntax.name or str(syntax)}"
        ) from None
    if not decoder.is_available:
        raise PreviewError(
            f"no installed decoder for transfer syntax {syntax.name}"
        )


def _pydicom_frames(path: Path) -> Callable[[Iterable[int] | None], Iterator[np.ndarray]]:
    def iterate(indices: Iterable[int] | None) -> Iterator[np.ndarray]:
        indices = None if indices is None else list(indices)
        frames = _numbered(iter_pixels(path, indices=indices), indices)
        try:
            first = next(frames)
        except StopIteration:
            return
        except PreviewError:
            # pydicom's lazy reader trusts the encoding the file meta declares;
            # files that lie about it (implicit VR labelled explicit) still
            # decode from a full read, which is affordable for a small file.
            if path.stat().st_size > WHOLE_READ_LIMIT:
                raise
            yield from _whole_dataset_frames(path)(indices)
            return
        yield first
        yield from frames

    return iterate


def _whole_dataset_frames(path: Path) -> Callable[[Iterable[int] | None], Iterator[np.ndarray]]:
    def iterate(indices: Iterable[int] | None) -> Iterator[np.ndarray]:
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            raise PreviewError(f"the dataset could not be read: {exc}") from exc
        yield from _numbered(iter_pixels(ds, indices=indices), indices)

    return iterate


def _numbered(frames: Iterator[np.ndarray], indices: Iterable[int] | None) -> Iterator[np.ndarray]:
    """Re-raise a decoder's failure as a PreviewError naming the frame."""
    numbers = iter(indices) if indices is not None else itertools.count()
    while True:
        index = next(numbers, None)
        try:
            with warnings.catch_warnings():
                # pydicom warns about harmless header quirks on every frame.
                warnings.simplefilter("ignore")
                frame = next(frames)
        except StopIteration:
            return
        except Exception as exc:
            raise PreviewError(f"frame {index} could not be decoded: {exc}") from exc
        yield frame


def _suits_jpeg_fragments(header: Dataset, syntax: UID) -> bool:
    samples = int(header.get("SamplesPerPixel", 1))
    return (
        syntax == JPEGBaseline8Bit
        and int(header.get("BitsAllocated", 0)) == 8
        and header.get("PhotometricInterpretation") in _FAST_PATH_PHOTOMETRICS.get(samples, ())
    )


def _fast_path_agrees(path: Path, header: Dataset, frame_count: int) -> bool:
    """Whether libjpeg-turbo and pydicom decode the first frame alike.

    libjpeg-turbo picks the colour transform from the JFIF/Adobe markers and
    component IDs, pydicom from the header; a codestream that disagrees
    with its header would be rendered in the wrong colours.
    """
    try:
        # The real frame count: with 1, fragments without an offset table
        # would all be read as one frame.
        with contextlib.closing(_jpeg_fragment_frames(path, header, frame_count)([0])) as first:
            fast = next(first)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = pixel_array(path, index=0)
    except Exception:
        # Let the generic route decode it and report the error, if any.
        return False
    if fast.shape != reference.shape:
        return False
    difference = np.abs(fast.astype(np.int16) - reference.astype(np.int16))
    return float(difference.mean()) <= _FAST_PATH_TOLERANCE


def jpeg_fragments(path: Path, header: Dataset, frame_count: int, last: int | None = None) -> Iterator[bytes]:
    """Yield the JPEG codestream of each frame, up to frame `last`, read lazily from the file.

    Raises
    ------
    PreviewError
        A frame is missing or its item cannot be read; the message names it.
    """
    endianness = "<" if header.file_meta.TransferSyntaxUID.is_little_endian else ">"
    last = frame_count - 1 if last is None else last
    with path.open("rb") as f:
        pydicom.dcmread(f, stop_before_pixels=True)
        # Skip the Pixel Data tag, VR, reserved bytes and undefined length
        # (12 bytes, explicit VR) to reach the Basic Offset Table item.
        f.seek(12, io.SEEK_CUR)
        fragments = generate_frames(f, number_of_frames=frame_count, endianness=endianness)
        for index in range(last + 1):
            try:
                yield next(fragments)
            except StopIteration:
                raise PreviewError(
                    f"frame {index} is missing: the pixel data ends early"
                ) from None
            except Exception as exc:
                raise PreviewError(f"frame {index} could not be read: {exc}") from exc


def _jpeg_fragment_frames(
    path: Path, header: Dataset, frame_count: int, size: tuple[int, int] | None = None
) -> Callable[[Iterable[int] | None], Iterator[np.ndarray]]:
    shape = (int(header.Rows), int(header.Columns))
    target = shape if size is None else (size[1], size[0])
    mode = "RGB" if int(header.get("SamplesPerPixel", 1)) == 3 else "L"

    def iterate(indices: Iterable[int] | None) -> Iterator[np.ndarray]:
        wanted = None if indices is None else set(indices)
        last = frame_count - 1 if wanted is None else max(wanted, default=-1)
        for index, encoded in enumerate(jpeg_fragments(path, header, frame_count, last)):
            if wanted is not None and index not in wanted:
                continue
            yield _decode_jpeg_frame(encoded, index, mode, shape, target)

    return iterate


def _decode_jpeg_frame(
    encoded: bytes, index: int, mode: str, shape: tuple[int, int], target: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode one frame; with a smaller `target` (rows, columns), libjpeg-turbo scales the DCT."""
    target = target or shape
    try:
        if simplejpeg is not None:
            header_size = simplejpeg.decode_jpeg_header(encoded)[:2]
            if header_size != shape:
                raise PreviewError(
                    f"frame {index} is {header_size[1]}x{header_size[0]}, "
                    f"the header says {shape[1]}x{shape[0]}"
                )
            # libjpeg-turbo writing straight into the array: Pillow's decode
            # is as fast, but repacking its 4-byte pixels costs twice as much.
            # min_height/min_width pick the smallest 1/2, 1/4, 1/8 DCT scale
            # that still covers the target, so a huge frame is never whole.
            frame = simplejpeg.decode_jpeg(encoded, colorspace="RGB" if mode == "RGB" else "GRAY",
                                           min_height=target[0], min_width=target[1])
            if mode == "L":
                frame = frame.reshape(frame.shape[:2])
        else:
            with Image.open(io.BytesIO(encoded), formats=["JPEG"]) as image:
                if image.size != (shape[1], shape[0]):
                    raise PreviewError(
                        f"frame {index} is {image.size[0]}x{image.size[1]}, "
                        f"the header says {shape[1]}x{shape[0]}"
                    )
                image.draft(mode, (target[1], target[0]))  # DCT scaling, as above
                image.load()
                frame = np.asarray(image if image.mode == mode else image.convert(mode))
    except PreviewError:
        raise
    except Exception as exc:
        raise PreviewError(f"frame {index} could not be decoded: {exc}") from exc
    return fit(frame, target[1], target[0])
