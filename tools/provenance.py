"""Digests that tie a generated rule table to its source and to the generator's output.

A generated module records the SHA-256 of the reference file it was made from (SOURCE_SHA256, so
a developer holding that file can check it is the same edition) and of its own rows (ROWS_SHA256,
so a test inside the repository notices a hand edit without needing the reference file).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Callable


def file_sha256(path: Path) -> str:
    """The SHA-256 of a reference file, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_sha256(rows) -> str:
    """The SHA-256 of rows of plain data (tuples, strings, numbers, dicts), in a canonical JSON form."""
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def generator_main(argv: list[str], *, build: Callable[[Path], str], target: Path, usage: str) -> int:
    """``generator [--check] SOURCE``: write `target` from SOURCE, or with --check report whether
    the committed `target` is what SOURCE gives (exit 1 when it is not, 2 on usage errors)."""
    check = "--check" in argv
    args = [a for a in argv[1:] if a != "--check"]
    if len(args) != 1:
        print(usage, file=sys.stderr)
        return 2
    source = Path(args[0])
    text = build(source)
    if check:
        same = target.read_text() == text
        print(f"{target} {'matches' if same else 'DIFFERS from'} {source}")
        return 0 if same else 1
    target.write_text(text)
    print(f"wrote {target}")
    return 0
