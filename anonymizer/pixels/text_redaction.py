"""Find burned-in text in the pixels, black it out, and prove it is gone.

:func:`redact_burned_in_text` turns a :class:`~.regions.PixelPlan` (regions, a vendor rule, or
the whole frame) into the final plan of one instance:

1. **Which frames.**  Every frame gets a cheap overlay signature (its bright, text-coloured pixels
   in the kept area, at half resolution).  The detector runs on a spread sample (first, last,
   evenly spaced) and on every frame whose overlay differs from all frames chosen so far; a frame
   whose overlay equals a checked one counts as checked.  Nothing runs the recogniser per frame.
2. **Redact.**  Inside the kept area every detected box is blacked out unless the policy
   (:mod:`.text_policy`) keeps it.  Without regions or a vendor rule, a box in a banner (a band of
   rows that is dark apart from its text) takes the whole band with it; a box over image content
   takes only itself, so the image area stays.
3. **Verify.**  The chosen frames are cleaned exactly as they will be written, decoded again, and
   the detector runs on those output pixels.  Text that is still there and not allowed is blacked
   out and checked once more; if any remains, or the detector failed on a frame, the instance is
   unverified with the reason.

Recognised text never leaves this module's local variables: the verdict holds counts, boxes and
the rules that decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from .regions import PixelPlan
from .text_detection import Box, TextEngine
from .text_policy import decide_text

log = logging.getLogger(__name__)

# Frames sampled across a clip whatever its overlay does: first, last and evenly spaced between.
SPREAD_SAMPLE = 3
# More distinct overlays than this in one clip and the rest are not checked: unverified.
MAX_CHECKED_FRAMES = 16
# Overlay layer: pixels at least this bright (luma, 0-255) are where printed text can be.
OVERLAY_LUMA = 170
# Two overlays differ when this many half-resolution pixels change within one 8x8 tile (a 16x16
# pixel patch): a changed digit does, a few flickering speckles do not.
OVERLAY_CHANGE_PIXELS = 10
OVERLAY_TILE = 8
# A band of rows is a banner when it lies in the top or bottom fifth of the frame and, apart from
# its text boxes, at most this share of it is lit.
BANNER_EDGE_SHARE = 0.2
BANNER_MAX_LIT = 0.04
DARK_LUMA = 24
# Rounds of verify-and-redact before giving up on an instance.
VERIFY_ROUNDS = 2


@dataclass(frozen=True)
class TextVerdict:
    """What text detection found and decided for one instance (no text, only counts and boxes).

    Attributes
    ----------
    verified : bool
        No text outside the allow-list remains in any frame's output pixels.
    reason : str
        Why not, in words an operator understands ("" when verified).
    rule : str
        What decided the kept area: ``"regions"``, ``"vendor rule: <label>"`` or
        ``"whole frame"``, followed by ``" + text detection"``.
    boxes_found, boxes_blacked_out, boxes_kept : int
        Detected text boxes (first pass, over the checked frames), blacked out, kept by the
        allow-list.
    frames_checked : int
        Frames that went through the detector.
    remaining_boxes : tuple of (x0, y0, x1, y1)
        Boxes still detected in the output (allowed or not), for staff review.
    decided_by : tuple of (rule, count)
        How many boxes each policy rule blacked out or kept.
    """

    verified: bool
    reason: str
    rule: str
    boxes_found: int = 0
    boxes_blacked_out: int = 0
    boxes_kept: int = 0
    frames_checked: int = 0
    remaining_boxes: tuple[Box, ...] = ()
    decided_by: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """One line for the report and the share's exclusion record."""
        rules = ", ".join(f"{rule} {count}" for rule, count in self.decided_by)
        return (f"{self.rule}: {self.boxes_found} text box(es) found, {self.boxes_blacked_out} blacked out, "
                f"{self.boxes_kept} kept by the allow-list, {self.frames_checked} frame(s) checked"
                + (f" ({rules})" if rules else ""))


@dataclass
class SourceFrame:
    """One source frame as the analysis sees it.

    Attributes
    ----------
    small : numpy.ndarray
        Half-resolution 8-bit RGB, for the overlay signature.
    full : callable
        Returns the full-resolution 8-bit RGB frame.
    output : callable
        Given the final plan, returns the frame's output pixels as 8-bit RGB, cleaned and
        decoded exactly as they will be written.
    """

    small: np.ndarray
    full: Callable[[], np.ndarray]
    output: Callable[[PixelPlan], np.ndarray]


@dataclass
class _Findings:
    keep: np.ndarray
    kept: list[Box] = field(default_factory=list)
    found: int = 0
    blacked: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    failure: str = ""

    def count(self, rule: str) -> None:
        self.rules[rule] = self.rules.get(rule, 0) + 1


def redact_burned_in_text(frames: Iterable[SourceFrame], plan: PixelPlan, *, frame_count: int, engine: TextEngine,
                          identifiers: Iterable[str] = (), blackout: Iterable[Box] = ()) -> PixelPlan:
    """Return ``plan`` with detected text blacked out and its :class:`TextVerdict` attached.

    Parameters
    ----------
    frames : iterable of SourceFrame
        Every frame of the instance, in order (read once).
    plan : PixelPlan
        The kept area before text detection (regions, vendor rule or whole frame).
    frame_count : int
        How many frames ``frames`` yields.
    engine : TextEngine
        From :func:`~.text_detection.load_text_engine`.
    identifiers : iterable of str
        :func:`~.text_policy.header_identifiers` of the original header.
    blackout : iterable of (x0, y0, x1, y1)
        Boxes staff asked to black out as well.

    Returns
    -------
    PixelPlan
        The final plan; ``plan.text`` holds the verdict.
    """
    identifiers = tuple(identifiers)
    keep = plan.keep.copy()
    for x0, y0, x1, y1 in blackout:
        keep[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
    rule = f"{plan.source} + text detection"
    findings = _Findings(keep=keep)
    checked, overflow = choose_frames(frames, keep, frame_count)
    whole_frame = plan.source == "whole frame"
    for index, frame in checked:
        try:
            image = frame.full()
            _redact_frame(image, plan.keep, findings, identifiers, engine, whole_frame=whole_frame)
        except Exception as exc:  # the OCR failing on a frame: unverified, never verified
            log.warning("text detection failed on frame %d", index + 1, exc_info=True)
            findings.failure = findings.failure or f"text detection failed on frame {index + 1} ({exc.__class__.__name__})"
    final = replace(plan, keep=findings.keep)
    remaining: list[Box] = []
    for _ in range(VERIFY_ROUNDS):
        remaining, disallowed = _verify(checked, final, findings, identifiers, engine)
        if not disallowed:
            break
        for box in disallowed:
            _black_out(findings.keep, box)
        final = replace(plan, keep=findings.keep)
    else:
        findings.failure = findings.failure or "text outside the allow-list remains after redaction"
    if overflow:
        findings.failure = findings.failure or (
            f"the text overlay changes in more than {MAX_CHECKED_FRAMES} frames; not every frame could be checked")
    verdict = TextVerdict(
        verified=not findings.failure, reason=findings.failure, rule=rule, boxes_found=findings.found,
        boxes_blacked_out=findings.blacked, boxes_kept=len(findings.kept), frames_checked=len(checked),
        remaining_boxes=tuple(remaining), decided_by=tuple(sorted(findings.rules.items())),
    )
    return replace(final, text=verdict)


def choose_frames(frames: Iterable[SourceFrame], keep: np.ndarray, frame_count: int) -> tuple[list[tuple[int, SourceFrame]], bool]:
    """Pick the frames to check: the spread sample plus every frame with an overlay not seen yet.

    Returns the chosen ``(index, frame)`` pairs and whether some frame with a new overlay had to
    be left out (more than :data:`MAX_CHECKED_FRAMES`).
    """
    spread = spread_sample(frame_count)
    small_keep = None
    chosen: list[tuple[int, SourceFrame]] = []
    signatures: list[np.ndarray] = []
    overflow = False
    for index, frame in enumerate(frames):
        if small_keep is None:
            small_keep = keep[::2, ::2][:frame.small.shape[0], :frame.small.shape[1]]
        signature = overlay_signature(frame.small, small_keep)
        if index not in spread and any(same_overlay(signature, seen) for seen in signatures):
            continue
        if len(chosen) >= MAX_CHECKED_FRAMES:
            overflow = True
            continue
        chosen.append((index, frame))
        signatures.append(signature)
    return chosen, overflow


def spread_sample(frame_count: int) -> set[int]:
    """First, last and evenly spaced frame indices."""
    if frame_count <= SPREAD_SAMPLE:
        return set(range(frame_count))
    return {round(i * (frame_count - 1) / (SPREAD_SAMPLE - 1)) for i in range(SPREAD_SAMPLE)}


def overlay_signature(small: np.ndarray, small_keep: np.ndarray) -> np.ndarray:
    """The overlay layer: bright pixels of the kept area (where printed text can be)."""
    luma = luminance(small)
    overlay = luma >= OVERLAY_LUMA
    if small_keep.shape == overlay.shape:
        overlay &= small_keep
    return overlay


def same_overlay(a: np.ndarray, b: np.ndarray) -> bool:
    """True when no 8x8 tile of the two overlays differs by :data:`OVERLAY_CHANGE_PIXELS` pixels."""
    if a.shape != b.shape:
        return False
    changed = a ^ b
    if changed.sum() < OVERLAY_CHANGE_PIXELS:
        return True
    rows = -(-changed.shape[0] // OVERLAY_TILE) * OVERLAY_TILE
    columns = -(-changed.shape[1] // OVERLAY_TILE) * OVERLAY_TILE
    padded = np.zeros((rows, columns), dtype=np.uint16)
    padded[:changed.shape[0], :changed.shape[1]] = changed
    tiles = padded.reshape(rows // OVERLAY_TILE, OVERLAY_TILE, columns // OVERLAY_TILE, OVERLAY_TILE).sum(axis=(1, 3))
    return int(tiles.max()) < OVERLAY_CHANGE_PIXELS


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Approximate BT.601 luma of an 8-bit RGB array, as uint8-range integers."""
    if rgb.ndim == 2:
        return rgb.astype(np.int32)
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return (77 * r + 150 * g + 29 * b) >> 8


def _detect_in(image: np.ndarray, keep: np.ndarray, engine: TextEngine) -> list[Box]:
    """Detected boxes that touch the kept area, in frame coordinates.

    The detector always sees the whole frame (what is not kept is black, as in the output):
    a crop would be rescaled differently, and enlarged speckle reads as text.
    """
    if not keep.any():
        return []
    window = image.copy()
    window[~keep] = 0
    return [box for box in engine.detect(window) if keep[box[1]:box[3], box[0]:box[2]].any()]


def _redact_frame(image: np.ndarray, plan_keep: np.ndarray, findings: _Findings, identifiers: tuple[str, ...],
                  engine: TextEngine, *, whole_frame: bool) -> None:
    keep_now = findings.keep
    boxes = _detect_in(image, keep_now, engine)
    if not boxes:
        return
    to_read = []
    for box in boxes:
        if any(_inside(box, kept) for kept in findings.kept):
            continue  # the same annotation, already decided on another frame
        findings.found += 1
        if whole_frame and _is_banner(image, box, boxes):
            # Banner text (patient, dates, institution) goes with its band, unread.
            findings.blacked += 1
            findings.count("banner")
            keep_now[box[1]:box[3], :] = False
        else:
            to_read.append(box)
    if not to_read:
        return
    # Read each box whole: masked only by the plan, not by the boxes blacked out meanwhile (a
    # half-hidden name can read as an allowed word).
    masked = image.copy()
    masked[~plan_keep] = 0
    texts = engine.recognise(masked, to_read)
    for box, text in zip(to_read, texts):
        decision = decide_text(text, identifiers, box_size=(box[2] - box[0], box[3] - box[1]))
        findings.count(decision.rule)
        if decision.keep:
            findings.kept.append(box)
        else:
            findings.blacked += 1
            _black_out(keep_now, box)
    del texts


def _verify(checked: list[tuple[int, SourceFrame]], plan: PixelPlan, findings: _Findings, identifiers: tuple[str, ...],
            engine: TextEngine) -> tuple[list[Box], list[Box]]:
    """Detect on the output pixels; return (every remaining box, those not allowed)."""
    remaining: list[Box] = []
    disallowed: list[Box] = []
    verified_overlays: list[np.ndarray] = []
    small_keep = plan.keep[::2, ::2]
    for index, frame in checked:
        try:
            output = frame.output(plan)
            # A frame whose kept area shows the same overlay as one verified counts as verified.
            overlay = overlay_signature(output[::2, ::2], small_keep)
            if any(same_overlay(overlay, seen) for seen in verified_overlays):
                continue
            verified_overlays.append(overlay)
            boxes = _detect_in(output, plan.keep, engine)
            unexplained = [box for box in boxes if not any(_covers(kept, box) for kept in findings.kept)]
            texts = engine.recognise(output, unexplained) if unexplained else []
        except Exception as exc:
            log.warning("text detection failed on the output of frame %d", index + 1, exc_info=True)
            findings.failure = findings.failure or f"text detection failed on frame {index + 1} ({exc.__class__.__name__})"
            continue
        remaining.extend(box for box in boxes if box not in remaining)
        for box, text in zip(unexplained, texts):
            if not decide_text(text, identifiers, box_size=(box[2] - box[0], box[3] - box[1])).keep:
                disallowed.append(box)
        del texts
    return remaining, disallowed


def _black_out(keep: np.ndarray, box: Box) -> None:
    x0, y0, x1, y1 = box
    keep[y0:y1, x0:x1] = False


def _inside(box: Box, other: Box) -> bool:
    return box[0] >= other[0] - 2 and box[1] >= other[1] - 2 and box[2] <= other[2] + 2 and box[3] <= other[3] + 2


def _covers(kept: Box, box: Box) -> bool:
    """At least half of ``box`` lies inside the kept box (the same annotation, re-detected)."""
    x0, y0 = max(kept[0], box[0]), max(kept[1], box[1])
    x1, y1 = min(kept[2], box[2]), min(kept[3], box[3])
    if x1 <= x0 or y1 <= y0:
        return False
    area = (box[2] - box[0]) * (box[3] - box[1])
    return (x1 - x0) * (y1 - y0) * 2 >= area


def _is_banner(image: np.ndarray, box: Box, boxes: list[Box]) -> bool:
    """True when the rows of ``box`` are dark apart from text: a banner, not the image."""
    y0, y1 = box[1], box[3]
    rows = image.shape[0]
    if y0 > rows * BANNER_EDGE_SHARE and y1 < rows * (1 - BANNER_EDGE_SHARE):
        return False  # banners run along the top and bottom edges, not across the image
    band = luminance(image[y0:y1]) > DARK_LUMA
    for bx0, by0, bx1, by1 in boxes:
        if by1 > y0 and by0 < y1:
            band[max(by0 - y0, 0):min(by1 - y0, band.shape[0]), bx0:bx1] = False
    return band.mean() <= BANNER_MAX_LIT if band.size else False
