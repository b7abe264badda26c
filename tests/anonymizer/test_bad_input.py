"""A bad file gets a clear reason of its own; the others are still processed; no partial output."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from anonymizer import anonymize_file, strict_profile
from anonymizer.__main__ import main
from .anonymizer_fixtures import KEY, build_marker_dataset, jpeg_clip, write_dataset


def good_file(folder: Path, name: str = "good.dcm") -> Path:
    ds = build_marker_dataset()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.998.{zlib.crc32(name.encode())}"
    return write_dataset(ds, folder / name)


def truncated_in_pixels(folder: Path) -> Path:
    data = good_file(folder, "whole.dcm").read_bytes()
    path = folder / "truncated-pixels.dcm"
    path.write_bytes(data[:-100])
    return path


def truncated_in_clip(folder: Path) -> Path:
    data = write_dataset(jpeg_clip(3, rows=64, columns=64), folder / "clip.dcm").read_bytes()
    path = folder / "truncated-clip.dcm"
    path.write_bytes(data[: len(data) - 300])
    (folder / "clip.dcm").unlink()
    return path


def truncated_in_header(folder: Path) -> Path:
    data = good_file(folder, "whole2.dcm").read_bytes()
    path = folder / "truncated-header.dcm"
    path.write_bytes(data[:700])
    return path


def missing_meta(folder: Path) -> Path:
    ds = build_marker_dataset()
    del ds.file_meta
    path = folder / "no-meta.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=False)
    return path


def wrong_vr(folder: Path) -> Path:
    data = bytearray(good_file(folder, "whole3.dcm").read_bytes())
    at = data.index(b"\x10\x00\x10\x00PN")  # PatientName's explicit VR
    data[at + 4:at + 6] = b"QQ"
    path = folder / "wrong-vr.dcm"
    path.write_bytes(bytes(data))
    return path


def bad_length(folder: Path) -> Path:
    data = bytearray(good_file(folder, "whole4.dcm").read_bytes())
    at = data.index(b"\x28\x00\x10\x00US")  # Rows: US with a 2-byte length
    data[at + 6:at + 8] = struct.pack("<H", 3)
    path = folder / "bad-length.dcm"
    path.write_bytes(bytes(data))
    return path


BAD_FILES = {
    "truncated pixel data": (truncated_in_pixels, "truncated"),
    "truncated encapsulated clip": (truncated_in_clip, "truncated"),
    "truncated header": (truncated_in_header, ""),
    "missing file meta": (missing_meta, "missing file meta"),
    "wrong VR": (wrong_vr, ""),
    "bad length": (bad_length, ""),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_rejected_with_a_reason_and_leaves_nothing(case, tmp_path):
    make, expected = BAD_FILES[case]
    source = make(tmp_path)
    for helper in tmp_path.glob("whole*.dcm"):
        helper.unlink()
    out = tmp_path / "out"
    out.mkdir()
    result = anonymize_file(source, out, profile=strict_profile(), key=KEY)
    assert result.status == "rejected", f"{case}: {result.status} {result.reason}"
    assert result.reason and expected in result.reason.lower()
    assert list(out.iterdir()) == [], f"{case}: a partial or temporary file was left behind"


def test_non_dicom_is_discarded_not_rejected(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("Patient Jane Doe, call back")
    result = anonymize_file(text, tmp_path, profile=strict_profile(), key=KEY)
    assert result.status == "discarded" and "not a DICOM file" in result.reason


@pytest.mark.parametrize("sop_class, reason", [
    ("1.2.840.10008.5.1.4.1.1.88.11", "non-image"),  # Basic Text SR
    ("1.2.840.10008.5.1.4.1.1.104.1", "non-image"),  # Encapsulated PDF
    ("1.2.840.10008.5.1.4.1.1.11.1", "non-image"),   # Grayscale presentation state
])
def test_non_image_objects_are_discarded_by_strict(sop_class, reason, tmp_path):
    ds = build_marker_dataset()
    del ds.PixelData
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    result = anonymize_file(write_dataset(ds, tmp_path / "obj.dcm"), tmp_path / "o.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "discarded" and reason in result.reason
    assert not (tmp_path / "o.dcm").exists()


def test_cli_processes_the_rest_and_exits_1_when_any_was_rejected(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    good_file(source, "one.dcm")
    good_file(source, "two.dcm")
    truncated_in_pixels(source)
    (source / "whole.dcm").unlink()
    (source / "readme.txt").write_text("not dicom")
    out = tmp_path / "out"
    code = main([str(source), str(out), "--profile", "strict", "--key", "k"])
    captured = capsys.readouterr()
    assert code == 1
    assert "rejected: " in captured.err and "truncated-pixels.dcm" in captured.err
    assert "discarded: " in captured.err and "readme.txt" in captured.err
    assert len(list(out.glob("*.dcm"))) == 2, "the good files are still written"
    assert not list(out.glob(".*")), "no temporary file is left"
    assert "written 2, discarded 1, rejected 1" in captured.out


def test_cli_exits_0_when_everything_was_written_or_discarded(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    good_file(source)
    (source / "readme.txt").write_text("not dicom")
    assert main([str(source), str(tmp_path / "out"), "--profile", "basic", "--key", "k",
                 "--option", "RetainUIDsOption"]) == 0


@pytest.mark.parametrize("argv", [
    ["--profile", "strict"],
    ["SRC", "DST"],
    ["SRC", "DST", "--profile", "lenient"],
    ["SRC", "DST", "--profile", "basic", "--option", "NoSuchOption"],
    ["SRC", "DST", "--profile", "strict", "--option", "RetainUIDsOption"],
    ["MISSING", "DST", "--profile", "strict"],
])
def test_cli_usage_errors_exit_2(argv, tmp_path, capsys):
    source = tmp_path / "src.dcm"
    good_file(tmp_path, "src.dcm")
    argv = [str(source) if a == "SRC" else str(tmp_path / "dst") if a == "DST" else
            str(tmp_path / "missing") if a == "MISSING" else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err


def test_cli_report_is_written_only_when_asked(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    ds = build_marker_dataset()
    ds.PatientName = "Doe^Jane"
    write_dataset(ds, source / "one.dcm")
    out = tmp_path / "out"
    assert main([str(source), str(out), "--profile", "strict", "--key", "k"]) == 0
    assert not list(tmp_path.rglob("*.csv")), "no report unless asked: it holds PHI"
    report = tmp_path / "report.csv"
    assert main([str(source), str(out), "--profile", "strict", "--key", "k", "--report", str(report)]) == 0
    text = report.read_text()
    assert "Doe^Jane" in text and "ANONYMOUS" in text and "original_study_uid" in text
    assert report.stat().st_mode & 0o077 == 0, "the report is readable by its owner only"


def test_a_bare_dataset_without_meta_is_not_written(tmp_path):
    ds = Dataset()
    ds.PatientName = "x"
    path = tmp_path / "x.dcm"
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    result = anonymize_file(path, tmp_path / "o.dcm", profile=strict_profile(), key=KEY)
    assert result.status in ("rejected", "discarded") and result.reason
