"""A bug is not bad input, and the command line never loses an input (issue 10, points 1 and 4)."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from anonymizer import anonymize_file, basic_profile, strict_profile
from anonymizer.__main__ import main
from .anonymizer_fixtures import KEY, build_marker_dataset, write_dataset


def marker_file(path: Path, *, name: str = "ZQDEFECT^PATIENT", value: int = 0) -> Path:
    ds = build_marker_dataset()
    ds.PatientName = name
    ds.PixelData = (np.frombuffer(ds.PixelData, dtype=np.uint8) + value).astype(np.uint8).tobytes()
    return write_dataset(ds, path)


def test_an_exception_in_our_code_is_a_defect_with_a_reference_not_bad_input(tmp_path, monkeypatch, caplog):
    def broken(ds, **kwargs):
        raise KeyError(str(ds.PatientName))  # a bug quoting a value from the file

    monkeypatch.setattr("anonymizer.anonymize.deidentify_header", broken)
    source = marker_file(tmp_path / "in.dcm")
    with caplog.at_level(logging.ERROR, logger="anonymizer.defects"):
        result = anonymize_file(source, tmp_path / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "failed", "our own exception must not be reported as a malformed file"
    assert result.reference.startswith("ERR-") and result.reference in result.reason
    assert "KeyError" not in result.reason and "Error:" not in result.reason, "staff never see exception names"
    assert "support" in result.reason
    assert not (tmp_path / "out.dcm").exists(), "nothing is written for a failed input"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert result.reference in logged, "the log line carries the reference staff will quote"
    assert 'File "' in logged, "the defect is logged with its stack"
    assert "ZQDEFECT" not in logged and str(source) not in logged, "no identifier in the log"


def test_a_value_pydicom_cannot_use_is_bad_input_in_plain_words(tmp_path):
    ds = build_marker_dataset()
    ds.NumberOfFrames = "7"
    source = write_dataset(ds, tmp_path / "frames.dcm")
    data = source.read_bytes()
    # PS3.5 IS holds digits only; pydicom reads "1A" with a warning (like its own badVR.dcm).
    source.write_bytes(data.replace(b"\x28\x00\x08\x00IS\x02\x007 ", b"\x28\x00\x08\x00IS\x02\x001A"))
    assert source.read_bytes() != data
    result = anonymize_file(source, tmp_path / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "rejected", result.reason
    assert "NumberOfFrames" in result.reason and "ValueError" not in result.reason


def test_a_codestream_the_decoder_refuses_is_bad_input_naming_the_frame(tmp_path):
    ds = build_marker_dataset()
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])  # a J2K start, then garbage
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEG2000Lossless
    source = write_dataset(ds, tmp_path / "broken-j2k.dcm")
    result = anonymize_file(source, tmp_path / "out.dcm", profile=strict_profile(), key=KEY)
    assert result.status == "rejected", result.reason
    assert "frame 0 cannot be decoded" in result.reason
    assert not (tmp_path / "out.dcm").exists()


def test_cli_exits_1_and_names_the_reference_when_a_defect_happens(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("anonymizer.anonymize.deidentify_header", lambda *a, **k: 1 / 0)
    source = tmp_path / "in"
    source.mkdir()
    marker_file(source / "one.dcm")
    code = main([str(source), str(tmp_path / "out"), "--profile", "strict", "--key", "k"])
    captured = capsys.readouterr()
    assert code == 1
    assert "failed: " in captured.err and "ERR-" in captured.err
    assert "failed 1" in captured.out


@pytest.fixture
def duplicates_folder(tmp_path) -> Path:
    """Three inputs with one SOP Instance UID: two different images and an exact copy of the first."""
    source = tmp_path / "in"
    source.mkdir()
    marker_file(source / "a.dcm", value=0)
    marker_file(source / "b.dcm", value=3)
    shutil.copy(source / "a.dcm", source / "c.dcm")
    return source


@pytest.mark.parametrize("profile", ["strict", "basic"])
def test_cli_keeps_both_inputs_that_share_a_sop_instance_uid(duplicates_folder, tmp_path, capsys, profile):
    out, report = tmp_path / "out", tmp_path / "report.csv"
    code = main([str(duplicates_folder), str(out), "--profile", profile, "--key", "k", "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open(report, newline="") as fh:
        rows = {Path(row["source"]).name: row for row in csv.DictReader(fh)}
    assert set(rows) == {"a.dcm", "b.dcm", "c.dcm"}
    for name, row in rows.items():
        assert row["status"] == "written" and Path(row["output"]).is_file(), \
            f"the report names an output for {name} that does not exist"
    assert rows["a.dcm"]["output"] != rows["b.dcm"]["output"], "a different image must not overwrite the first"
    assert rows["c.dcm"]["output"] == rows["a.dcm"]["output"], "an identical copy shares the identical output"
    first = pydicom.dcmread(rows["a.dcm"]["output"]).PixelData
    second = pydicom.dcmread(rows["b.dcm"]["output"]).PixelData
    assert first != second, "both images are kept, each in its own file"
    assert "kept both" in rows["b.dcm"]["reason"] and "duplicate: " in captured.err, "the duplicate is reported"
    assert len(list(out.glob("*.dcm"))) == 2 and "output files 2" in captured.out

    again = main([str(duplicates_folder), str(out), "--profile", profile, "--key", "k"])
    assert again == 0 and len(list(out.glob("*.dcm"))) == 2, "a re-run adds no copies of identical outputs"


def test_library_never_replaces_a_different_file_in_a_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    first = anonymize_file(marker_file(tmp_path / "a.dcm"), out, profile=basic_profile(), key=KEY)
    second = anonymize_file(marker_file(tmp_path / "b.dcm", value=5), out, profile=basic_profile(), key=KEY)
    assert first.output != second.output and Path(first.output).exists() and Path(second.output).exists()
