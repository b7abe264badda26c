"""Fuzz the ingest parser, the ZIP reader and the anonymizer for a fixed time.

    FUZZ_SECONDS=300 .venv/bin/python bench/fuzz_ingest.py [--crashes DIR]

The same targets and promises as tests/fuzz (tests/fuzz/targets.py), with hypothesis as the input
generator and no example budget: the targets take turns until the time is up. A broken promise is
recorded, not fatal, so one known crash does not hide the next; each distinct failure (exception
type and where it was raised) is printed once with a sample saved to the crash folder, to become a
regression test. The address space is capped so a hostile size that makes a decoder allocate
gigabytes shows up as a MemoryError instead of taking the machine down.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["DATA_DIR"] = str(data_dir)
    import django

    django.setup()


def signature(error: BaseException) -> str:
    """What a failure is, independent of the input: the cause's type and the frame that raised it."""
    cause = error.__cause__ or error
    frames = traceback.extract_tb(cause.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    text = re.sub(r"\d+", "N", str(error).splitlines()[0] if str(error) else "")[:90]
    return f"{type(cause).__name__} at {where} — {text}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "300")))
    parser.add_argument("--crashes", type=Path, default=Path(tempfile.gettempdir()) / "fuzz-ingest-crashes")
    parser.add_argument("--memory-gib", type=float, default=4.0)
    args = parser.parse_args()

    limit = int(args.memory_gib * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    data_dir = Path(tempfile.mkdtemp(prefix="fuzz-data-"))
    setup_django(data_dir)
    # Damaged input makes pydicom warn on every example; the outcome counts say what happened.
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    from django.conf import settings
    from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings

    from tests.fuzz.targets import (
        Broken, check_anonymize, check_expand_zip, check_validate, damaged_dicom, damaged_zip, small_zip_limits, workdir,
    )

    args.crashes.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    outcomes: Counter = Counter()
    runs: Counter = Counter()

    def record(target: str, data: bytes, error: BaseException) -> None:
        key = f"{target}: {signature(error)}"
        outcomes[f"{target}:BROKEN"] += 1
        if key in found:
            return
        sample = args.crashes / f"{target}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
        sample.write_bytes(data)
        found[key] = sample
        print(f"\nNEW FAILURE {key}\n  sample: {sample} ({len(data)} bytes)\n  {error}", flush=True)

    def guarded(target: str, check, *extra):
        def run(data: bytes) -> None:
            runs[target] += 1
            with workdir() as folder:
                try:
                    outcome = check(data, folder, *extra)
                except Broken as error:
                    record(target, data, error)
                    return
            outcomes[f"{target}:{outcome.split(':')[0]}"] += 1
        return run

    targets = [
        ("validate", damaged_dicom(), guarded("validate", check_validate)),
        ("zip", damaged_zip(), guarded("zip", check_expand_zip)),
        ("anonymize-strict", damaged_dicom(), guarded("anonymize-strict", check_anonymize, "strict")),
        ("anonymize-basic", damaged_dicom(), guarded("anonymize-basic", check_anonymize, "basic")),
    ]
    def fresh(run):
        def example(data: bytes) -> None:
            run(data)
        return example

    run_settings = hypothesis_settings(
        max_examples=200, deadline=None, database=None, phases=[Phase.generate], derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    end = started + args.seconds
    with small_zip_limits(settings):
        while time.monotonic() < end:
            for name, strategy, run in targets:
                if time.monotonic() >= end:
                    break
                given(data=strategy)(run_settings(fresh(run)))()
            elapsed = time.monotonic() - started
            print(f"\r{elapsed:6.0f}s  " + "  ".join(f"{k} {v}" for k, v in sorted(runs.items())) + f"  failures {len(found)}",
                  end="", flush=True)
    print()
    elapsed = time.monotonic() - started
    total = sum(runs.values())
    print(f"\n{total} inputs in {elapsed:.0f} s ({total / elapsed:.0f}/s)")
    for key, value in sorted(outcomes.items()):
        print(f"  {key:40s} {value}")
    print(f"\n{len(found)} distinct failures" + (":" if found else ""))
    for key, sample in found.items():
        print(f"  {key}\n    {sample}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
