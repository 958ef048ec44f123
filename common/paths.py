"""Output paths, checked before any work starts: a long run must not fail at its end because the file or folder it
was told to write cannot be written; and what makes two spellings of a path one."""

import os
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


def identity(path: Path) -> object:
    """What every spelling of one path shares: an existing file's device and inode (so a symlink, a hard link or
    another case on a case-insensitive file system is the file itself), else the path resolved (relative, `..`,
    symlinks) and case-normalised."""
    try:
        status = path.stat()
    except OSError:  # not there yet
        return os.path.normcase(os.path.realpath(path))
    return status.st_dev, status.st_ino
