"""A generated corpus of ultrasound files with identifying text drawn into the pixels.

Each file starts from a real frame of one of pydicom's bundled ultrasound files and has header
values (patient name, ID, birth date, accession number, institution, physician, dates) drawn
into it the way scanners print them.  The variations:

- fonts (DejaVu Sans / Mono / Serif when installed, Pillow's own scalable font, Pillow's bitmap
  font), sizes 9-20 px, colours (white, yellow, green, cyan, grey);
- antialiased and bitmap (1-bit) rendering; native RGB or JPEG Baseline at quality 60-95;
- position: top band, bottom band, inside the image area;
- ultrasound regions present or absent (then no vendor rule applies either);
- the header holding the drawn values, or already blank;
- single frame and multi-frame (a static overlay, or one whose clock changes mid-clip).

Clean negatives carry no drawn identifier, to measure over-redaction.  Some files also carry
allow-listed annotations ("3.5 cm", "MI 0.8") inside the image, which must survive.

Nothing is written to the repository: :func:`build_corpus` draws into a temporary folder.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from .anonymizer_fixtures import region

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf")
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
COLOURS = ((255, 255, 255), (255, 255, 0), (120, 255, 120), (0, 255, 255), (215, 215, 215))

# The patient whose identifiers are drawn.
PATIENT = {
    "PatientName": "Doe^Jane", "PatientID": "4471925", "PatientBirthDate": "19850312",
    "AccessionNumber": "88123456", "InstitutionName": "Riverside Womens Clinic",
    "ReferringPhysicianName": "Novak^Karel", "StudyDate": "20240618", "StudyTime": "104233",
}
IDENTIFYING_STRINGS = (
    "DOE, JANE", "ID 4471925", "DOB 12/03/1985", "Riverside Womens Clinic", "Jane Doe",
    "18-06-2024 10:42", "ACC 88123456", "Dr Karel Novak", "MRN:4471925", "2024/06/18",
)
ALLOWED_ANNOTATIONS = ("3.5 cm", "MI 0.8")


@dataclass(frozen=True)
class Base:
    """A bundled file, and where its ultrasound image lies (free of its own burned-in text)."""

    name: str
    regions: tuple[tuple[int, int, int, int], ...]  # the regions our generated files declare
    image_area: tuple[int, int, int, int]  # x0, y0, x1, y1: where over-redaction is measured
    top: tuple[int, int]  # x, y of a free spot in the top band
    bottom: tuple[int, int]  # ... in the bottom band
    inside: tuple[int, int]  # ... inside the image area


BASES = {
    "jpeg2k": Base("examples_jpeg2k.dcm", ((14, 108, 626, 340),), (50, 112, 590, 330), (300, 1), (20, 395), (330, 250)),
    "palette": Base("examples_palette.dcm", ((120, 60, 799, 349),), (330, 62, 770, 345), (140, 60), (330, 320), (420, 200)),
    "ybr": Base("examples_ybr_color.dcm", ((84, 31, 319, 239),), (86, 33, 280, 215), (90, 31), (90, 200), (110, 120)),
}


@dataclass
class Drawn:
    """One string drawn into the frames, and its stroke pixels."""

    text: str
    colour: tuple[int, int, int]
    stroke: np.ndarray  # bool (rows, columns)
    identifying: bool
    frames: tuple[int, ...]  # frames it is drawn into


@dataclass
class CorpusFile:
    path: Path
    label: str
    drawn: list[Drawn] = field(default_factory=list)
    image_area: np.ndarray | None = None  # bool: image pixels where no text was drawn
    frames: int = 1
    negative: bool = False


@dataclass(frozen=True)
class Variant:
    base: str
    regions: bool
    header: bool  # header holds the drawn values (else blank)
    jpeg_quality: int | None  # None: native RGB
    frames: int
    placements: tuple[str, ...]  # top, bottom, inside (one identifying string each)
    allowed: bool = False  # also draw the allow-listed annotations inside the image
    changing_clock: bool = False
    negative: bool = False


def variants() -> list[Variant]:
    """The corpus: every base with regions on and off, both header states, native and JPEG."""
    qualities = itertools.cycle((60, 75, 85, 95))
    placements = itertools.cycle((("top", "bottom"), ("top", "inside"), ("bottom", "inside"), ("top", "bottom", "inside")))
    chosen = []
    for base, regions, header in itertools.product(("jpeg2k", "palette", "ybr"), (True, False), (True, False)):
        jpeg = base != "palette" or not header
        chosen.append(Variant(base, regions, header, next(qualities) if jpeg else None, 1, next(placements),
                              allowed=header))
    chosen += [
        Variant("ybr", True, True, 85, 6, ("top", "inside")),
        Variant("ybr", False, False, 70, 6, ("bottom", "inside"), changing_clock=True),
        Variant("jpeg2k", False, True, 90, 4, ("top", "bottom"), changing_clock=True),
        Variant("palette", False, True, None, 3, ("top", "inside"), allowed=True),
    ]
    chosen += [
        Variant("jpeg2k", False, True, 90, 1, (), negative=True),
        Variant("palette", True, True, None, 1, (), negative=True),
        Variant("ybr", False, False, 80, 4, (), negative=True),
        Variant("jpeg2k", True, False, None, 1, (), allowed=True, negative=True),
    ]
    return chosen


def build_corpus(folder: Path) -> list[CorpusFile]:
    """Write every variant's file into ``folder``; return what was drawn where."""
    fonts = itertools.cycle(_fonts())
    sizes = itertools.cycle((9, 11, 13, 15, 17, 20, 10, 12, 14, 16, 18, 19))
    colours = itertools.cycle(COLOURS)
    strings = itertools.cycle(IDENTIFYING_STRINGS)
    files = []
    for number, variant in enumerate(variants()):
        base = BASES[variant.base]
        frames = _base_frames(base, variant.frames)
        rows, columns = frames.shape[1:3]
        item = CorpusFile(path=folder / f"case-{number:02d}.dcm", label=_label(variant), frames=variant.frames,
                          negative=variant.negative)
        for placement in variant.placements:
            font_name, antialiased = next(fonts)
            size = next(sizes)
            font = _font(font_name, size)
            x, y = getattr(base, placement)
            text = next(strings)
            _draw(frames, item, text, font, (x, y), next(colours), antialiased, identifying=True)
        if variant.changing_clock:
            font = _font(FONT_FILES[1], 14)
            x, y = base.bottom[0] + 200, base.bottom[1]
            half = variant.frames // 2
            _draw(frames, item, "10:42:07", font, (x, y), COLOURS[0], True, identifying=True, only=range(half))
            _draw(frames, item, "10:43:51", font, (x, y), COLOURS[0], True, identifying=True,
                  only=range(half, variant.frames))
        if variant.allowed:
            font = _font(FONT_FILES[0], 15)
            x, y = base.inside
            _draw(frames, item, ALLOWED_ANNOTATIONS[0], font, (x + 10, y + 30), COLOURS[0], True, identifying=False)
            _draw(frames, item, ALLOWED_ANNOTATIONS[1], font, (x + 10, y + 52), COLOURS[1], True, identifying=False)
        area = np.zeros((rows, columns), dtype=bool)
        x0, y0, x1, y1 = base.image_area
        area[y0:y1, x0:x1] = True
        for drawn in item.drawn:
            area &= ~_grow(drawn.stroke, 6)
        item.image_area = area
        ds = _dataset(base, frames, variant)
        ds.save_as(item.path, enforce_file_format=True)
        files.append(item)
    return files


def _label(variant: Variant) -> str:
    return (f"{variant.base} {'regions' if variant.regions else 'no regions'} "
            f"{'header' if variant.header else 'blank header'} "
            f"{'q%d' % variant.jpeg_quality if variant.jpeg_quality else 'native'} {variant.frames}f "
            f"{'+'.join(variant.placements) or 'negative'}")


def _fonts() -> list[tuple[str | None, bool]]:
    """(font file or None for Pillow's own, antialiased?) pairs; bitmap rendering is 1-bit."""
    found = [name for name in FONT_FILES if any((folder / name).exists() for folder in FONT_DIRS)]
    choices: list[tuple[str | None, bool]] = [(None, True), (None, False)]
    for name in found:
        choices += [(name, True), (name, False)]
    return choices


def _font(name: str | None, size: int):
    if name:
        for folder in FONT_DIRS:
            if (folder / name).exists():
                return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size)


def _draw(frames: np.ndarray, item: CorpusFile, text: str, font, position, colour, antialiased: bool, *,
          identifying: bool, only=None) -> None:
    rows, columns = frames.shape[1:3]
    mask = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(mask)
    draw.fontmode = "L" if antialiased else "1"
    draw.text(position, text, fill=255, font=font)
    alpha = np.asarray(mask).astype(np.float32)[..., None] / 255.0
    indices = tuple(only) if only is not None else tuple(range(len(frames)))
    for index in indices:
        blended = frames[index] * (1 - alpha) + np.array(colour, dtype=np.float32) * alpha
        frames[index] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    item.drawn.append(Drawn(text, colour, np.asarray(mask) >= 160, identifying, indices))


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    grown = np.zeros_like(mask)
    if ys.size:
        grown[max(ys.min() - pixels, 0):ys.max() + pixels + 1, max(xs.min() - pixels, 0):xs.max() + pixels + 1] = True
    return grown


def _base_frames(base: Base, count: int) -> np.ndarray:
    ds = pydicom.dcmread(get_testdata_file(base.name, download=False))
    pixels = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        pixels = (apply_color_lut(pixels, ds) >> 8).astype(np.uint8)
    pixels = pixels.astype(np.uint8)
    if pixels.ndim == 3:
        pixels = pixels[None]
    return np.stack([pixels[i % len(pixels)] for i in range(count)]).copy()


def _dataset(base: Base, frames: np.ndarray, variant: Variant) -> Dataset:
    source = pydicom.dcmread(get_testdata_file(base.name, download=False), stop_before_pixels=True)
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1" if variant.frames > 1 else "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    ds.Manufacturer = "Generic Scanner Co"  # no vendor rule applies: regions or text detection decide
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value if variant.header else "")
    if variant.regions:
        ds.SequenceOfUltrasoundRegions = Sequence([region(*bounds) for bounds in base.regions])
    rows, columns = frames.shape[1:3]
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PlanarConfiguration = 0
    if variant.frames > 1:
        ds.NumberOfFrames = variant.frames
        ds.FrameTime = 33.3
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if variant.jpeg_quality:
        fragments = []
        for frame in frames:
            out = io.BytesIO()
            Image.fromarray(frame, "RGB").save(out, "JPEG", quality=variant.jpeg_quality, subsampling=2)
            fragments.append(out.getvalue())
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate(fragments, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
    else:
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = frames.tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    del source
    return ds


def output_frames(path: Path) -> np.ndarray:
    """The anonymized file's frames as 8-bit RGB ``(frames, rows, columns, 3)``."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    if ds.PhotometricInterpretation.startswith("YBR") and ds.file_meta.TransferSyntaxUID != JPEGBaseline8Bit:
        pixels = convert_color_space(pixels, "YBR_FULL", "RGB")
    if pixels.ndim == 3:
        pixels = pixels[None]
    return pixels.astype(np.uint8)


def text_coloured(before: np.ndarray, after: np.ndarray, drawn: Drawn, *, tolerance: int = 48) -> float:
    """Share of the string's stroke pixels that still show its colour after anonymization.

    A stroke pixel survives when it is text-coloured in the input (within 100 of the drawn
    colour: JPEG blurs colours) and the output keeps it within ``tolerance`` of the input.
    """
    inked = drawn.stroke & (np.abs(before.astype(int) - np.array(drawn.colour)).max(axis=-1) <= 100)
    if not inked.any():
        return 0.0
    kept = np.abs(after[inked].astype(int) - before[inked].astype(int)).max(axis=-1) <= tolerance
    return float(kept.mean())


def blacked_share(before: np.ndarray, after: np.ndarray, area: np.ndarray) -> float:
    """Share of ``area`` that was lit before and is black after (over-redaction)."""
    lit = (before.max(axis=-1) > 30) & area
    black = after.max(axis=-1) <= 12
    return float((lit & black).sum()) / max(int(area.sum()), 1)
