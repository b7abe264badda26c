"""Figure: every file pydicom decodes goes through both profiles and comes out previewable.

The corpus is every file bundled with pydicom (pydicom/data/test_files, walked recursively) plus
the encodings built in code (device_samples.py). For each one pydicom itself decodes, the strict
and the basic profile must write an output, and the output must render a JPG (one frame) or an
MP4 (a clip). The totals are printed (``pytest -s`` shows them) and every failure is listed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest

from anonymizer import anonymize_file, basic_profile, strict_profile
from sharing.previews import render_instance

from .device_samples import SAMPLES, build_sample

KEY = b"corpus"
BUNDLED = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_decodes(path: Path) -> bool:
    """pydicom reads the file and decodes its pixels: the bar the portal must meet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            ds.pixel_array
    except Exception:  # whatever pydicom refuses is out of the corpus
        return False
    return True


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_file_pydicom_decodes_is_anonymized_by_both_profiles_and_previewed(tmp_path):
    built = tmp_path / "built"
    built.mkdir()
    corpus = sorted(p for p in BUNDLED.rglob("*") if p.is_file())
    corpus += [build_sample(sample, built / f"{sample.name}.dcm") for sample in SAMPLES]
    decodable = [path for path in corpus if pydicom_decodes(path)]
    assert len(decodable) > 60, "the corpus shrank: is pydicom's test data still bundled?"

    failures: list[str] = []
    outcome = {"strict": {"image": 0, "clip": 0}, "basic": {"image": 0, "clip": 0}}
    for number, path in enumerate(decodable):
        label = path.relative_to(BUNDLED) if path.is_relative_to(BUNDLED) else path.name
        for name, profile in (("strict", strict_profile()), ("basic", basic_profile())):
            out = tmp_path / name / f"{number}.dcm"
            out.parent.mkdir(exist_ok=True)
            result = anonymize_file(path, out, profile=profile, key=KEY)
            if result.status != "written":
                failures.append(f"{label}: {name} {result.status}: {result.reason}")
                continue
            try:
                rendered = render_instance(out, tmp_path / "previews", stem=f"{name}-{number}")
            except Exception as exc:  # reported below with the file's name
                failures.append(f"{label}: {name} output not previewable: {exc}")
                continue
            outcome[name][rendered.kind] += 1
            rendered.media.unlink()
    print(f"\ncorpus: {len(corpus)} files ({len(SAMPLES)} built in code), {len(decodable)} decoded by pydicom")
    for name, kinds in outcome.items():
        print(f"  {name}: {kinds['image'] + kinds['clip']} written and previewed "
              f"({kinds['image']} JPG, {kinds['clip']} MP4)")
    print(f"  failures: {len(failures)}")
    assert not failures, "\n".join(failures)
