"""Burned-in text: found in the pixels, removed, and proven gone, on a generated corpus of real
ultrasound frames (see burned_in_corpus.py); the policy, the frame choice for cine, bad input."""

from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from anonymizer import anonymize_file, strict_profile
from anonymizer.pixels import load_text_engine
from anonymizer.pixels.text_detection import DETECTOR_MODEL, MODEL_DIR_VARIABLE, RECOGNISER_MODEL, TextEngine
from anonymizer.pixels.text_policy import decide_text, header_identifiers
from anonymizer.pixels.text_redaction import SPREAD_SAMPLE, SourceFrame, choose_frames
from .anonymizer_fixtures import KEY
from .burned_in_corpus import IDENTIFYING_STRINGS, PATIENT, blacked_share, build_corpus, output_frames, text_coloured

ROOT = Path(__file__).resolve().parents[2]
# A string is gone when at most this share of its stroke pixels still shows its colour.
SURVIVING_STROKES = 0.05


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The generated corpus, strictly anonymized once for the session (one model load)."""
    folder = tmp_path_factory.mktemp("burned-in")
    out = folder / "out"
    out.mkdir()
    load_text_engine()
    cases = []
    for item in build_corpus(folder):
        result = anonymize_file(item.path, out / item.path.name, profile=strict_profile(), key=KEY)
        assert result.status == "written", f"{item.label}: {result.reason}"
        cases.append((item, result, output_frames(item.path), output_frames(Path(result.output))))
    return cases


def surviving(item, before, after) -> list[tuple[str, float]]:
    return [(d.text, share) for d in item.drawn if d.identifying
            for share in [max(text_coloured(before[i], after[i], d) for i in d.frames)] if share > SURVIVING_STROKES]


def test_every_drawn_identifier_is_removed(corpus):
    left = [(item.label, text, round(share, 2)) for item, _, before, after in corpus
            for text, share in surviving(item, before, after)]
    assert not left, f"identifying text survived (stroke pixels still text-coloured): {left}"


def test_no_file_with_surviving_text_is_marked_verified(corpus):
    for item, result, before, after in corpus:
        written = pydicom.dcmread(result.output, stop_before_pixels=True)
        if surviving(item, before, after):
            assert not result.pixels_verified and written.BurnedInAnnotation == "YES", item.label
        methods = [m.CodeMeaning for m in written.DeidentificationMethodCodeSequence]
        if result.pixels_verified:
            assert written.BurnedInAnnotation == "NO" and "Clean Pixel Data Option" in methods, item.label
        else:
            assert written.BurnedInAnnotation == "YES" and "Clean Pixel Data Option" not in methods, item.label


def test_at_most_five_percent_of_files_are_held_for_review(corpus):
    held = [item.label for item, result, _, _ in corpus if not result.pixels_verified]
    assert len(held) <= 0.05 * len(corpus), f"held for staff review: {held}"


def test_at_most_two_percent_of_the_image_area_is_blacked_out_where_no_text_was_drawn(corpus):
    worst = {item.label: max(blacked_share(before[i], after[i], item.image_area) for i in range(len(after)))
             for item, _, before, after in corpus}
    over = {label: round(share, 3) for label, share in worst.items() if share > 0.02}
    assert not over, f"over-redaction inside the image area: {over}"
    negatives = [label for (item, result, _, _) in corpus if item.negative for label in [item.label]
                 if not result.pixels_verified]
    assert not negatives, f"clean negatives held for review: {negatives}"


def test_allow_listed_annotations_survive_inside_the_image(corpus):
    checked, lost = 0, []
    for item, _, before, after in corpus:
        for drawn in item.drawn:
            if drawn.identifying:
                continue
            checked += 1
            share = min(text_coloured(before[i], after[i], drawn) for i in drawn.frames)
            if share < 0.8:
                lost.append((item.label, drawn.text, round(share, 2)))
    assert checked >= 6 and not lost, f"allow-listed annotations were blacked out: {lost}"


def test_the_report_gives_counts_and_the_deciding_rule_never_the_text(corpus, tmp_path):
    cases = [item for item, _, _, _ in corpus if not item.negative][:3]
    source = tmp_path / "in"
    source.mkdir()
    for item in cases:
        (source / item.path.name).write_bytes(item.path.read_bytes())
    report = tmp_path / "report.csv"
    run = subprocess.run([sys.executable, "-m", "anonymizer", str(source), str(tmp_path / "out"), "--profile", "strict",
                          "--key", "k", "--report", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == len(cases)
    for row in rows:
        assert row["pixel_rule"].endswith("+ text detection"), row["pixel_rule"]
        found, blacked, kept = (int(row[c]) for c in ("text_boxes_found", "text_boxes_blacked_out", "text_boxes_kept"))
        assert found >= 2 and blacked >= 1 and found == blacked + kept
    everything = report.read_text() + run.stdout + run.stderr
    # The header's own values are in the report by design (original_patient_name ...); what
    # was only *read* in the pixels must not be.
    header_values = {v.upper() for v in PATIENT.values()}
    for text in IDENTIFYING_STRINGS:
        if text.upper() not in header_values:
            assert text.upper() not in everything.upper(), f"recognised text {text!r} leaked into the report or output"


def test_rapidocr_log_records_never_carry_text():
    load_text_engine()
    rapid_logger = logging.getLogger("RapidOCR")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    rapid_logger.addHandler(handler)
    try:
        rapid_logger.warning("read %s in box", "Jane Doe 4471925")
        try:
            raise ValueError("Jane Doe")
        except ValueError:
            rapid_logger.exception("failed on %s", "4471925")
    finally:
        rapid_logger.removeHandler(handler)
    printed = stream.getvalue()
    assert "Jane" not in printed and "4471925" not in printed, "rapidocr's log carried recognised text"
    assert printed.count("withheld") == 2, "each record is still reported, as a fixed sentence"


# --- the policy --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["3.5 cm", "MI 0.8", "TIS 0.1", "C5-1", "L12-5", "Gn 60", "28Hz", "11cm", "2D",
                                  "TIS<0.4 MI=0.8 AO=100%", "Gen OB", "LEFT SAG", "PSV 45.2 cm/s", "1.06 cm"])
def test_ultrasound_annotations_are_allowed(text):
    assert decide_text(text).keep, f"{text!r} is annotation vocabulary"


@pytest.mark.parametrize("text, rule", [
    ("12/03/1985", "date"), ("1O/O3/1985", "date"), ("2024-06-18", "date"), ("18 JUN 2024", "date"),
    ("19850312", "date"), ("10:42", "time"), ("10:42:07", "time"), ("4471925", "digit run"),
    ("ID 447 1925", "digit run"), ("Jane Doe", "not on the allow-list"), ("", "unreadable"),
])
def test_dates_times_digit_runs_and_names_are_blacked_out(text, rule):
    decision = decide_text(text)
    assert not decision.keep and decision.rule == rule


def test_header_identifiers_match_despite_misreads():
    ds = pydicom.Dataset()
    ds.PatientName = "Gain^Depth"  # a patient whose name is allow-listed vocabulary
    ds.InstitutionName = "Cardiac Center"
    identifiers = header_identifiers(ds)
    assert not decide_text("GAIN", identifiers).keep, "a header name is blacked out even when it is a known word"
    assert not decide_text("CARDIAC", identifiers).keep
    assert not decide_text("CARD1AC", identifiers).keep, "one misread letter still matches"
    assert decide_text("CARDIAC", ()).keep, "without the header, the word alone is annotation vocabulary"


def test_a_reading_that_misses_most_of_its_box_never_keeps_it():
    assert not decide_text("D", (), box_size=(60, 19)).keep, "one letter read in a box wide enough for seven"
    assert decide_text("D", (), box_size=(12, 16)).keep
    assert not decide_text("\u65e5\u76f4", (), box_size=(60, 16)).keep, "a wide box read as no letter or digit is blacked out"
    assert decide_text("\u25a0", (), box_size=(16, 16)).keep, "a one-glyph symbol cannot hold an identifier"


# --- cine: which frames are checked -------------------------------------------------------------

def synthetic_clip(frames: int, *, clock_changes_at: int | None = None) -> list[SourceFrame]:
    rng = np.random.default_rng(3)
    clip = []
    for index in range(frames):
        small = rng.integers(0, 120, (120, 160, 3), dtype=np.uint8)  # speckle changes every frame
        small[5:12, 10:70] = 255  # a static overlay line
        if clock_changes_at is not None and index >= clock_changes_at:
            small[100:108, 120:150] = 255  # the clock's digits change
        clip.append(SourceFrame(small=small, full=lambda: None, output=lambda plan: None))
    return clip


def test_a_static_overlay_is_checked_on_the_spread_sample_only():
    keep = np.ones((240, 320), dtype=bool)
    chosen, overflow = choose_frames(synthetic_clip(40), keep, 40)
    assert [index for index, _ in chosen] == [0, 20, 39] and SPREAD_SAMPLE == 3 and not overflow


def test_a_changing_overlay_adds_the_frame_where_it_changes():
    keep = np.ones((240, 320), dtype=bool)
    chosen, _ = choose_frames(synthetic_clip(40, clock_changes_at=27), keep, 40)
    assert [index for index, _ in chosen] == [0, 20, 27, 39]


# --- bad input ----------------------------------------------------------------------------------

def test_a_frame_the_ocr_cannot_process_leaves_the_instance_unverified(corpus, tmp_path, monkeypatch):
    item = next(item for item, _, _, _ in corpus if item.label.startswith("jpeg2k regions header"))

    def fail(self, image):
        raise RuntimeError("onnxruntime: invalid input")

    monkeypatch.setattr(TextEngine, "detect", fail)
    result = anonymize_file(item.path, tmp_path, profile=strict_profile(), key=KEY)
    assert result.status == "written" and not result.pixels_verified
    assert "text detection failed on frame 1 (RuntimeError)" in result.reason
    written = pydicom.dcmread(result.output)
    assert written.BurnedInAnnotation == "YES"
    assert output_frames(Path(result.output))[0][:100].max() <= 40, "outside the regions is blacked out all the same"


def test_a_missing_or_broken_model_stops_the_command_before_any_file(tmp_path, corpus):
    broken = tmp_path / "models"
    broken.mkdir()
    (broken / DETECTOR_MODEL).write_bytes(b"this is not an ONNX model")
    (broken / RECOGNISER_MODEL).write_bytes(b"neither is this")
    source = corpus[0][0].path
    for folder in (broken, tmp_path / "missing"):
        out = tmp_path / f"out-{folder.name}"
        run = subprocess.run([sys.executable, "-m", "anonymizer", str(source), str(out), "--profile", "strict", "--key", "k"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, MODEL_DIR_VARIABLE: str(folder)})
        assert run.returncode == 2, run.stderr
        assert "cannot clean pixels" in run.stderr and ("cannot be loaded" in run.stderr or "missing" in run.stderr)
        assert not out.exists() or not any(out.iterdir()), "nothing is written when the models cannot load"


# --- the one entry point for decoded frames (the RLE path, video syntaxes) -----------------------

def test_clean_decoded_frames_detects_once_per_batch_then_only_masks(monkeypatch):
    from pydicom.data import get_testdata_file

    from anonymizer.pixels import clean_decoded_frames, plan_pixel_cleaning

    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm", download=False))
    frames = ds.pixel_array[:4].copy()  # decoded to RGB by pydicom
    plan = plan_pixel_cleaning(ds)
    cleaned, checked = clean_decoded_frames(frames, plan, pixel_module=ds, photometric="RGB",
                                            identifiers=header_identifiers(ds))
    assert checked.text is not None and checked.text.verified, checked.text
    assert checked.text.boxes_blacked_out >= 1 and checked.text.frames_checked >= 1
    assert cleaned.shape == (4, 240, 320, 3) and cleaned[:, :31].max() == 0, "outside the region is black"
    assert (~checked.keep & plan.keep).any(), "text boxes inside the region were added to the plan"

    def refuse(self, image):
        raise AssertionError("an analysed plan must not run the detector again")

    monkeypatch.setattr(TextEngine, "detect", refuse)
    one, same = clean_decoded_frames(ds.pixel_array[5].copy(), checked, pixel_module=ds, photometric="RGB")
    assert same is checked and one.shape == (240, 320, 3) and one[~checked.keep].max() == 0
