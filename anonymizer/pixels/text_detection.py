"""Offline text detection and recognition on frames: PP-OCR models run by onnxruntime on the CPU.

The models ship inside the ``rapidocr`` wheel and are loaded from there by explicit path, so
rapidocr never tries its download fallback:

- ``PP-OCRv6_det_small.onnx`` (DB text detector): where text is; this decides what is blacked out;
- ``PP-OCRv6_rec_small.onnx`` (CTC recogniser): what a detected box says; this only decides
  whether the box may be kept.

The angle classifier is not used: ultrasound annotations are printed upright.

The engine is loaded once per process (:func:`load_text_engine`): a worker calls it at start, so a
missing or broken model stops the worker with a clear error instead of leaving images unverified
one by one.  ``ANONYMIZER_OCR_MODEL_DIR`` points at another folder holding the same files.

Recognised text is an identifier.  rapidocr logs through its own ``RapidOCR`` logger (INFO,
its own stderr handler); :class:`WithholdMessages` rewrites every record of it to a fixed
sentence, so nothing it prints can carry text.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

DETECTOR_MODEL = "PP-OCRv6_det_small.onnx"
RECOGNISER_MODEL = "PP-OCRv6_rec_small.onnx"
MODEL_DIR_VARIABLE = "ANONYMIZER_OCR_MODEL_DIR"

# A box (x0, y0, x1, y1), half-open, in frame pixels.
Box = tuple[int, int, int, int]

# Padding around a detected box when cropping for recognition and when blacking out: the
# detector's polygon hugs the strokes, antialiasing and JPEG ringing spill a pixel or two.
BOX_PADDING = 2
# Detection confidence below which a region is not text: the detector's own default (box_thresh)
# is 0.5; we go lower, since a missed box costs privacy and an extra box only costs a few pixels.
DETECTION_BOX_THRESHOLD = 0.4
# The detector scales a frame so that its short side is at least this: small frames (320x240)
# are enlarged so 9 px text is still found, 640x480 and larger run at their own size (rapidocr's
# default, 736, would enlarge every 640x480 frame and cost twice the time for nothing).
DETECTION_MIN_SIDE = 480


class TextEngineUnavailable(Exception):
    """The OCR models cannot be loaded: a deployment defect, never a property of an input file."""


class WithholdMessages(logging.Filter):
    """Replace every rapidocr log message by a fixed sentence (it could carry recognised text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "rapidocr reported a %s (message withheld: it may carry recognised text)"
        record.args = (record.levelname.lower(),)
        record.exc_info = None
        record.exc_text = None
        return True


def _silence_rapidocr() -> None:
    rapid_logger = logging.getLogger("RapidOCR")
    rapid_logger.setLevel(logging.WARNING)
    if not any(isinstance(f, WithholdMessages) for f in rapid_logger.filters):
        rapid_logger.addFilter(WithholdMessages())


def model_dir() -> Path:
    """Where the ONNX models are: ``$ANONYMIZER_OCR_MODEL_DIR``, else inside the rapidocr wheel."""
    configured = os.environ.get(MODEL_DIR_VARIABLE)
    if configured:
        return Path(configured)
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


class TextEngine:
    """Detector and recogniser, loaded once; calls are serialised (rapidocr keeps state per call)."""

    def __init__(self, folder: Path):
        _silence_rapidocr()
        detector, recogniser = folder / DETECTOR_MODEL, folder / RECOGNISER_MODEL
        for path in (detector, recogniser):
            if not path.is_file() or path.stat().st_size == 0:
                raise TextEngineUnavailable(f"text detection model {path} is missing or empty")
        try:
            from rapidocr import RapidOCR

            self._ocr = RapidOCR(params={
                "Global.log_level": "warning",
                "Global.use_cls": False,
                "Det.model_path": str(detector),
                "Det.box_thresh": DETECTION_BOX_THRESHOLD,
                "Det.limit_side_len": DETECTION_MIN_SIDE,
                "Det.limit_type": "min",
                "Rec.model_path": str(recogniser),
            })
            _silence_rapidocr()  # RapidOCR() resets its logger's level from the config
            self._lock = threading.Lock()
            # Load both sessions now and prove they run: a broken file fails here, at start.
            probe = np.full((48, 160, 3), 255, dtype=np.uint8)
            probe[16:32, 20:140] = 0
            self.detect(probe)
            self.recognise(probe, [(0, 0, 160, 48)])
        except TextEngineUnavailable:
            raise
        except Exception as exc:
            raise TextEngineUnavailable(
                f"text detection models in {folder} cannot be loaded ({exc.__class__.__name__})") from None

    def detect(self, image: np.ndarray) -> list[Box]:
        """Axis-aligned boxes of the text in ``image`` (``(rows, columns, 3)`` uint8 RGB)."""
        bgr = image[..., ::-1]
        short = min(image.shape[:2])
        if short < DETECTION_MIN_SIDE // 2:
            # A tiny frame is padded with black rather than enlarged twenty times: at that scale
            # smooth gradients read as strokes.
            side = DETECTION_MIN_SIDE // 2
            padded = np.zeros((max(image.shape[0], side), max(image.shape[1], side), 3), dtype=np.uint8)
            padded[:image.shape[0], :image.shape[1]] = bgr
            bgr = padded
        with self._lock:
            output = self._ocr(np.ascontiguousarray(bgr), use_det=True, use_cls=False, use_rec=False)
        polygons = getattr(output, "boxes", None)
        if polygons is None:
            return []
        rows, columns = image.shape[:2]
        boxes = []
        for polygon in np.asarray(polygons):
            xs, ys = polygon[:, 0], polygon[:, 1]
            x0, x1 = max(int(np.floor(xs.min())) - BOX_PADDING, 0), min(int(np.ceil(xs.max())) + BOX_PADDING, columns)
            y0, y1 = max(int(np.floor(ys.min())) - BOX_PADDING, 0), min(int(np.ceil(ys.max())) + BOX_PADDING, rows)
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1, y1))
        return boxes

    def recognise(self, image: np.ndarray, boxes: list[Box]) -> list[str]:
        """What each box says, in order; an unreadable box reads as ""."""
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]) for x0, y0, x1, y1 in boxes]
        readable = [index for index, crop in enumerate(crops) if crop.size]
        texts = [""] * len(crops)
        if not readable:
            return texts
        from rapidocr.ch_ppocr_rec import TextRecInput

        with self._lock:
            # The recogniser itself, on all crops in batches (rapidocr's __call__ takes one image).
            output = self._ocr._load_rec_model()(TextRecInput(img=[crops[index] for index in readable]))
        for index, text in zip(readable, output.txts or ()):
            texts[index] = str(text)
        return texts


def check_text_engine() -> None:
    """Load the models once and drop them: a parent process checks before it forks its workers
    (onnxruntime sessions must not cross a fork).

    Raises
    ------
    TextEngineUnavailable
        A model file is missing, empty or broken.
    """
    TextEngine(model_dir())


_engine: TextEngine | None = None
_engine_lock = threading.Lock()


def load_text_engine() -> TextEngine:
    """The process's text engine, loaded on first use (about a second) and kept.

    Raises
    ------
    TextEngineUnavailable
        A model file is missing, empty or broken.
    """
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = TextEngine(model_dir())
    return _engine
