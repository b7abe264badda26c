"""Publish an output file only once it is complete."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`, renamed onto it on success.

    The temporary file lives in the same directory so that the final
    :func:`os.replace` is a rename on one filesystem, which readers see
    either not at all or complete: a half-written JPG or MP4 is never
    exposed. On any exception the temporary file is removed.

    Parameters
    ----------
    path : pathlib.Path
        Where the finished file must appear.

    Yields
    ------
    pathlib.Path
        The path to write to. It has the same suffix as `path` because
        ffmpeg and Pillow pick the container format from it.
    """
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
