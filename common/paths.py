"""Output paths, checked before any work starts: a long run must not fail at its end because the file or folder it
was told to write cannot be written."""

import tempfile
from pathlib import Path

from common.errors import InputError


def writable_folder(path: Path, flag: str = "") -> None:
    """`path` is, or can be created as, a folder this process can write in; else an InputError naming `flag`."""
    name = f"{flag} {path}".strip()
    if path.exists() and not path.is_dir():
        raise InputError(f"{name} is a file, not a folder; give a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{name}: {existing} is a file, not a folder; give a path under a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):  # what the run will do there: create a file
            pass
    except OSError as e:
        raise InputError(f"{name}: cannot write in {existing} ({e.strerror or e}); give a writable path") from e


def writable_file(path: Path, flag: str = "") -> None:
    """`path` is, or can be created as, a file this process can write; else an InputError naming `flag`."""
    if path.is_dir():
        raise InputError(f"{f'{flag} {path}'.strip()} is a folder; give a file path")
    writable_folder(path.parent, flag)
