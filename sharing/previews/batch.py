"""Turn command-line sources into (file, identifier-free stem) pairs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import NotAnImage, PreviewError
from .frames import read_header


def collect_files(sources: Iterable[str | Path]) -> list[Path]:
    """Files named directly, and every file below named folders, in a stable order.

    Hidden files (``.DS_Store``, editors' droppings, our own ``.partial``
    files) are skipped; anything else is tried, as DICOM files often have
    no extension.

    Raises
    ------
    FileNotFoundError
        If a source does not exist.
    """
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            files.extend(
                p for p in sorted(source.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
            )
        elif source.is_file():
            files.append(source)
        else:
            raise FileNotFoundError(f"no such file or folder: {source}")
    return list(dict.fromkeys(files))


def plan_batch(files: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Pair each image file with ``img-001``, ``clip-001``...; set the rest aside.

    The stem never derives from the file name, which modalities often build
    from the patient's name. Files that are not DICOM, or DICOM without
    pixels (structured reports, DICOMDIR, RT plans), have nothing to
    preview: they are returned as skipped, with the reason, rather than as
    failures.

    Returns
    -------
    tuple of lists
        ``(items, skipped)``: ``[(path, stem)]`` to render and
        ``[(path, reason)]`` left out.
    """
    counters = {"img": 0, "clip": 0}
    items, skipped = [], []
    for path in files:
        try:
            frames = read_header(path).get("NumberOfFrames") or 1
            prefix = "clip" if int(frames) > 1 else "img"
        except NotAnImage as exc:
            skipped.append((path, exc.reason))
            continue
        except (PreviewError, TypeError, ValueError):
            # A damaged header: the renderer will say exactly what is wrong.
            prefix = "img"
        counters[prefix] += 1
        items.append((path, f"{prefix}-{counters[prefix]:03d}"))
    return items, skipped
