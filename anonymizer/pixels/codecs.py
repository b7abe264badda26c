"""Clean one frame at a time, per transfer syntax family.

=================================  ==========================================
source                             what is written
=================================  ==========================================
native (uncompressed)              native, explicit VR little endian; masked
                                   in place, no loss
JPEG Baseline (8-bit lossy)        JPEG Baseline, re-encoded by libjpeg-turbo
                                   (Pillow) with the frame's *own*
                                   quantisation tables and chroma sampling,
                                   decoded straight to YCbCr (no colour
                                   round trip): blocks inside the regions come
                                   back within a grey level or two of the
                                   original, instead of a second lossy
                                   generation at another quality
any other compressed syntax        RLE Lossless: decoded by pydicom's plugins
(JPEG-LS, JPEG Lossless, J2K,      frame by frame and re-encoded losslessly,
RLE, JPEG Extended ...)            so a lossless source stays lossless and a
                                   lossy one gains no further loss
=================================  ==========================================
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, JpegImagePlugin
from pydicom.dataset import Dataset

from ..errors import AnonymizationError
from .regions import PixelPlan, mask_outside_regions

# Frames decoded and encoded at once: enough to keep both cores busy while
# holding only a handful of frames in memory.
WORKERS = 2
IN_FLIGHT = 2 * WORKERS


def ordered_map(function: Callable[[bytes], bytes], items: Iterable[bytes]) -> Iterator[bytes]:
    """Apply ``function`` on a small thread pool, in order, with bounded look-ahead.

    libjpeg-turbo releases the GIL while it decodes and encodes, so two
    threads use both cores; unlike ``Executor.map`` this never reads more
    than :data:`IN_FLIGHT` frames ahead of the writer.
    """
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- JPEG Baseline -------------------------------------------------------------------------

def jpeg_baseline_cleaner(plan: PixelPlan, *, monochrome1: bool = False) -> Callable[[bytes], bytes]:
    """Return a function that blacks out the plan's area in one JPEG frame.

    The result is JPEG Baseline with the source's quantisation tables and
    subsampling.  A frame with nothing to blank is passed through untouched.
    """
    boxes = [(x0, y0, x1, y1) for y0, y1, x0, x1 in plan.blank_rectangles]

    def clean(frame: bytes) -> bytes:
        if not boxes:
            return frame
        try:
            image = Image.open(io.BytesIO(frame))
            if image.mode == "RGB":
                image.draft("YCbCr", image.size)  # skip the YCbCr->RGB->YCbCr round trip
            image.load()
            tables = image.quantization
            sampling = JpegImagePlugin.get_sampling(image) if image.mode != "L" else 0
        except (OSError, SyntaxError, ValueError) as exc:
            raise AnonymizationError(f"JPEG frame cannot be decoded: {exc}") from exc
        if image.mode == "L":
            fill = 255 if monochrome1 else 0
        elif image.mode == "YCbCr":
            fill = (0, 128, 128)  # full-range YCbCr black
        elif image.mode == "RGB":
            fill = (0, 0, 0)
        else:
            raise AnonymizationError(f"JPEG frames in mode {image.mode} are not supported")
        for box in boxes:
            image.paste(fill, box)
        out = io.BytesIO()
        save_args = {"qtables": tables, "optimize": False}
        if image.mode != "L":
            save_args["subsampling"] = max(sampling, 0)
        image.save(out, "JPEG", **save_args)
        return out.getvalue()

    return clean


def jpeg_output_photometric(original: str) -> str:
    """PhotometricInterpretation of re-encoded JPEG frames (always YCbCr inside)."""
    if original in ("MONOCHROME1", "MONOCHROME2", "YBR_FULL", "YBR_FULL_422"):
        return original
    return "YBR_FULL_422"  # an RGB-coded source is written the usual YCbCr way


# --- native ---------------------------------------------------------------------------------

def native_fill(ds: Dataset):
    """The value that displays as black, per PhotometricInterpretation."""
    photometric = str(ds.PhotometricInterpretation).strip()
    bits_stored = int(ds.get("BitsStored", ds.BitsAllocated))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    lowest = -(1 << (bits_stored - 1)) if signed else 0
    highest = (1 << (bits_stored - 1)) - 1 if signed else (1 << bits_stored) - 1
    if photometric == "MONOCHROME2":
        return lowest
    if photometric == "MONOCHROME1":
        return highest
    if photometric == "RGB":
        return (0, 0, 0)
    if photometric == "YBR_FULL":
        middle = 1 << (bits_stored - 1)
        return (0, middle, middle)
    if photometric == "PALETTE COLOR":
        return darkest_palette_index(ds)
    raise AnonymizationError(f"cannot black out native {photometric} pixels")


def darkest_palette_index(ds: Dataset) -> int:
    """The palette index whose colour is darkest (index 0 is not always black)."""
    from pydicom.pixels import apply_color_lut

    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    indices = np.arange(first, first + entries, dtype=np.uint16 if ds.BitsAllocated > 8 else np.uint8)
    colours = apply_color_lut(indices, ds).astype(np.int64)
    return int(first + np.argmin(colours.sum(axis=-1)))


def native_cleaner(ds: Dataset, plan: PixelPlan, *, little_endian: bool) -> Callable[[bytes], bytes]:
    """Return a function that blacks out the plan's area in one native frame.

    The frame is written back explicit VR little endian, so a big endian
    source is byte-swapped on the way.
    """
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        raise AnonymizationError(f"cannot clean native pixels with BitsAllocated {bits}")
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    planar = int(ds.get("PlanarConfiguration", 0)) == 1
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"{'<' if little_endian else '>'}{'i' if signed else 'u'}{bits // 8}")
    fill = native_fill(ds)

    def clean(frame: bytes) -> bytes:
        array = np.frombuffer(frame, dtype=dtype).astype(dtype.newbyteorder("<"))
        if samples == 1:
            mask_outside_regions(array.reshape(rows, columns), plan, fill)
        elif planar:
            planes = array.reshape(samples, rows, columns)
            for index in range(samples):
                mask_outside_regions(planes[index], plan, fill[index])
        else:
            mask_outside_regions(array.reshape(rows, columns, samples), plan, fill)
        return array.tobytes()

    return clean


def native_frame_size(ds: Dataset) -> int:
    """Bytes per native frame."""
    return int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * (int(ds.BitsAllocated) // 8)


# --- other compressed syntaxes -> RLE Lossless ----------------------------------------------

def rle_cleaner(ds: Dataset, plan: PixelPlan, photometric: str) -> Callable[[np.ndarray], bytes]:
    """Return a function that masks one decoded frame and encodes it as RLE Lossless."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    samples = int(ds.get("SamplesPerPixel", 1))
    encode_args = {
        "rows": int(ds.Rows), "columns": int(ds.Columns), "samples_per_pixel": samples,
        "bits_allocated": int(ds.BitsAllocated), "bits_stored": int(ds.get("BitsStored", ds.BitsAllocated)),
        "pixel_representation": int(ds.get("PixelRepresentation", 0)),
        "photometric_interpretation": photometric, "number_of_frames": 1,
        "planar_configuration": 0,
    }
    def clean(frame: np.ndarray) -> bytes:
        from .decoded import clean_decoded_frames

        frame, _ = clean_decoded_frames(np.ascontiguousarray(frame), plan, pixel_module=ds, photometric=photometric)
        return RLELosslessEncoder.encode(frame, **encode_args)

    return clean
