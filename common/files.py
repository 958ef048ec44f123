"""Files written whole: a temporary file beside the target, renamed into place, so no reader sees half a file."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, open for writing, and its path. Created as open() creates a file (mode 0o666 less
    the umask), so the file renamed into place has the permissions the user's umask gives, as any file written
    directly would (tempfile.mkstemp's are 0o600, private)."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:  # another writer's: draw another name
            continue


@contextmanager
def atomic(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A file object for `path` (its folder created if missing): what is written appears at `path` only when the
    block ends without an error; otherwise nothing is left behind. The file gets the umask's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = temporary_beside(path)
    try:
        with os.fdopen(fd, mode) as out:
            yield out
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            os.remove(temporary)


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` whole; `path`."""
    with atomic(path, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)
    return path
