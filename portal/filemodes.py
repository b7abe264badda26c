"""Files that hold identifiers are private to the portal's user, or also readable by its group.

The database, stored DICOM, previews, scratch folders and the outboxes all hold PHI. Every
process that writes them (web, worker, DICOM listener, `run_portal`, `manage.py`) imports the
settings first, and the settings call `apply_umask`, so whatever the process creates is 0600 and
its folders 0700; with ``UMASK=027`` (a group such as a backup user's may read) 0640 and 0750.
Django's storage sets modes of its own (FILE_UPLOAD_PERMISSIONS, default 0644), so the settings
derive those from the same mask.

`check_data_modes` is a Django system check: it warns at start-up (and in ``manage.py check``)
about what was created wider before, e.g. by an older version or another tool.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from django.core.checks import Warning

DEFAULT_UMASK = 0o077
# Never looser than this: nothing for others, no writing for the group.
LOOSEST_UMASK = 0o027


def parse_umask(text: str) -> int:
    """Read an octal umask (``077``, ``0o027``); refuse one that would give others or the group more."""
    value = int(text.strip().removeprefix("0o"), 8)
    if value & LOOSEST_UMASK != LOOSEST_UMASK:
        raise ValueError(f"UMASK={text} would let other users read files holding identifiers; use 077 or 027")
    return value


def apply_umask(umask: int) -> None:
    os.umask(umask)


def file_mode(umask: int) -> int:
    return 0o666 & ~umask


def folder_mode(umask: int) -> int:
    return 0o777 & ~umask


def too_open(path: Path, umask: int) -> int | None:
    """The mode of `path` if it grants more than the mask allows, else None (also when missing)."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except OSError:
        return None
    allowed = folder_mode(umask) if path.is_dir() else file_mode(umask)
    return mode if mode & ~allowed else None


def paths_holding_identifiers(settings) -> list[Path]:
    """The folders and files to check: the top of each tree (walking all of media at start-up is too slow)."""
    paths = [Path(settings.DATA_DIR), Path(settings.MEDIA_ROOT), Path(settings.FILE_UPLOAD_TEMP_DIR),
             Path(settings.EMAIL_OUTBOX_DIR), Path(settings.SMS_OUTBOX_DIR),
             Path(settings.DATA_DIR) / "secret_key", Path(settings.DATA_DIR) / "anonymizer_key",
             Path(settings.DATA_DIR) / "broker"]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = Path(str(database["NAME"]))
        paths += [name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")]
    media = Path(settings.MEDIA_ROOT)
    if media.is_dir():
        paths += sorted(child for child in media.iterdir() if child.is_dir())
    return paths


def check_data_modes(app_configs=None, **kwargs) -> list[Warning]:
    from django.conf import settings

    umask = settings.UMASK
    warnings = []
    for path in paths_holding_identifiers(settings):
        mode = too_open(path, umask)
        if mode is not None:
            allowed = folder_mode(umask) if path.is_dir() else file_mode(umask)
            warnings.append(Warning(
                f"{path} is readable by more users than it should be (mode {mode:04o}).",
                hint=f"It holds patient data: chmod {allowed:o} (or chmod -R go-rwx on a folder).",
                id="portal.W001",
            ))
    return warnings
