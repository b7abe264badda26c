"""Render an instance into the files a patient sees: JPG or MP4, thumbnail, poster."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from anonymizer.defects import defect_sentence, report_defect

from .clips import RawFrames, encode_clip, encode_jpeg_clip
from .errors import PreviewError
from .frame_rate import clip_frame_rate
from .frames import FrameSource, open_frame_source
from .processing import PERCENTILE_SAMPLE_FRAMES, DisplayMapping, plan_display
from .sizing import fit
from .stills import write_still, write_thumbnail

logger = logging.getLogger(__name__)

# A stem becomes a file name in a public folder: one plain path component.
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class RenderedPreview:
    """What was written for one instance.

    Attributes
    ----------
    kind : {"image", "clip"}
    media : pathlib.Path
        ``{stem}.jpg`` for an image, ``{stem}.mp4`` for a clip.
    thumbnail : pathlib.Path
        ``{stem}-thumb.jpg``, longest side at most 320 px.
    poster : pathlib.Path or None
        ``{stem}-poster.jpg``, the clip's first frame; None for an image.
    width, height : int
        Pixel size of `media` (a clip's odd size padded to even).
    frames : int
        1 for an image.
    fps : fractions.Fraction or None
        Playback rate of a clip; None for an image.
    """

    kind: str
    media: Path
    thumbnail: Path
    poster: Path | None
    width: int
    height: int
    frames: int
    fps: Fraction | None


def render_instance(src: str | Path, out_dir: str | Path, *, stem: str) -> RenderedPreview:
    """Render one DICOM instance: a still if it has one frame, else a clip.

    Parameters
    ----------
    src : str or pathlib.Path
        The DICOM file.
    out_dir : str or pathlib.Path
        Created if missing.
    stem : str
        The identifier-free base name for every output, e.g. ``"img-3"``.

    Returns
    -------
    RenderedPreview

    Raises
    ------
    PreviewError
        If the instance cannot be rendered. Nothing is left behind for it:
        neither its outputs nor temporary files.
    ValueError
        If `stem` is not a plain file name.
    """
    if not _STEM.fullmatch(stem):
        raise ValueError(f"stem must be a plain file name, got {stem!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        source = open_frame_source(src)
        mapping = plan_display(
            source.header, lambda: source.frames(_sample_indices(source.frame_count))
        )
        if source.frame_count == 1:
            return render_still(source, mapping, out_dir, stem=stem)
        return render_clip(source, mapping, out_dir, stem=stem)
    except PreviewError as exc:
        exc.stem = stem
        raise
    except Exception as exc:
        # Decoders and LUTs are wrapped where they run (frames, processing): what
        # reaches here is a defect of the renderer, logged with its stack.
        reference = report_defect(exc, where=f"rendering preview {stem}", logger=logger)
        raise PreviewError(defect_sentence(reference), stem=stem, reference=reference) from exc


def render_still(
    source: FrameSource, mapping: DisplayMapping, out_dir: Path, *, stem: str
) -> RenderedPreview:
    """Write ``{stem}.jpg`` at patient size (:mod:`.sizing`) and ``{stem}-thumb.jpg``."""
    media, thumbnail = out_dir / f"{stem}.jpg", out_dir / f"{stem}-thumb.jpg"
    with _removed_on_failure(media, thumbnail):
        image = fit(mapping(next(iter(source.frames()))), *source.size)
        width, height = write_still(image, media)
        write_thumbnail(image, thumbnail)
    return RenderedPreview("image", media, thumbnail, None, width, height, 1, None)


def render_clip(
    source: FrameSource, mapping: DisplayMapping, out_dir: Path, *, stem: str
) -> RenderedPreview:
    """Write ``{stem}.mp4``, ``{stem}-poster.jpg`` and ``{stem}-thumb.jpg``.

    A video stream that browsers already play is copied into the MP4 as it is
    (``source.remux``); every other clip is decoded, mapped and encoded.
    """
    media = out_dir / f"{stem}.mp4"
    poster, thumbnail = out_dir / f"{stem}-poster.jpg", out_dir / f"{stem}-thumb.jpg"
    fps = clip_frame_rate(source.header)
    first: list[np.ndarray] = []
    width, height = source.size

    if source.remux is not None:
        with _removed_on_failure(media, poster, thumbnail):
            written = source.remux(media)
            _check_frame_count(written, source)
            _write_poster_and_thumbnail(mapping(next(iter(source.frames([0])))), poster, thumbnail)
        return RenderedPreview("clip", media, thumbnail, poster, width + width % 2, height + height % 2,
                               written, fps)

    if (source.encoded_frames is not None and (width, height) == (source.columns, source.rows)
            and mapping.is_identity(np.uint8)):
        # JPEG frames displayed as stored: ffmpeg decodes them itself, off Python's critical path.
        with _removed_on_failure(media, poster, thumbnail):
            written = encode_jpeg_clip(source.encoded_frames(), media, width=width, height=height, fps=fps)
            _check_frame_count(written, source)
            _write_poster_and_thumbnail(mapping(next(iter(source.frames([0])))), poster, thumbnail)
        return RenderedPreview("clip", media, thumbnail, poster, width + width % 2, height + height % 2,
                               written, fps)

    def display_frames() -> Iterator[np.ndarray]:
        for frame in source.frames():
            image = fit(mapping(frame), width, height)
            if not first:
                # The poster is what the player shows before playing: frame 0.
                first.append(image.copy())
            yield image

    with _removed_on_failure(media, poster, thumbnail):
        raw = RawFrames(width, height, mapping.pixel_format, fps)
        written = encode_clip(display_frames(), media, raw)
        _check_frame_count(written, source)
        _write_poster_and_thumbnail(first[0], poster, thumbnail)
    return RenderedPreview("clip", media, thumbnail, poster, width + width % 2, height + height % 2, written, fps)


def _write_poster_and_thumbnail(image: np.ndarray, poster: Path, thumbnail: Path) -> None:
    # The poster is what the player shows before playing: frame 0.
    write_still(image, poster)
    write_thumbnail(image, thumbnail)


def _check_frame_count(written: int, source: FrameSource) -> None:
    if written != source.frame_count:
        raise PreviewError(f"{written} frames were decoded, the header announces {source.frame_count}")


def render_instances(
    items: Sequence[tuple[str | Path, str]],
    out_dir: str | Path,
    *,
    workers: int | None = None,
) -> list[RenderedPreview | PreviewError]:
    """Render many instances in parallel; one failure does not stop the rest.

    Threads suffice: the heavy work (x264, libjpeg-turbo, numpy indexing)
    runs outside the GIL or in the ffmpeg child, and threads, unlike a
    process pool, also work inside a daemonic Celery prefork worker.

    Parameters
    ----------
    items : sequence of (src, stem)
        Stems must be distinct.
    out_dir : str or pathlib.Path
    workers : int, optional
        How many instances render at once; the CPU count when omitted.

    Returns
    -------
    list of RenderedPreview or PreviewError
        In the order of `items`.
    """
    stems = [stem for _, stem in items]
    if len(set(stems)) != len(stems):
        raise ValueError("stems must be distinct")
    workers = max(1, min(workers or os.cpu_count() or 1, len(items) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="preview") as pool:
        return list(pool.map(lambda item: _render_or_error(*item, out_dir), items))


def _render_or_error(src: str | Path, stem: str, out_dir: str | Path) -> RenderedPreview | PreviewError:
    try:
        return render_instance(src, out_dir, stem=stem)
    except PreviewError as exc:
        logger.warning("preview %s not rendered: %s", stem, exc.reason)
        return exc
    except Exception as exc:
        # A defect must cost one instance, not the whole share.
        reference = report_defect(exc, where=f"rendering preview {stem}", logger=logger)
        return PreviewError(defect_sentence(reference), stem=stem, reference=reference)


def _sample_indices(frame_count: int) -> list[int]:
    """Evenly spread frames from which a clip-wide window is computed."""
    count = min(frame_count, PERCENTILE_SAMPLE_FRAMES)
    return sorted({round(i * (frame_count - 1) / max(count - 1, 1)) for i in range(count)})


@contextlib.contextmanager
def _removed_on_failure(*paths: Path) -> Iterator[None]:
    """Delete the given outputs if the block fails, so none is left half-made."""
    try:
        yield
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
