"""Files written whole: a temporary file beside the target, renamed into place, so no reader sees half a file."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A file object for `path` (its folder created if missing): what is written appears at `path` only when the
    block ends without an error; otherwise nothing is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as out:
            yield out
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` whole; `path`."""
    with atomic(path, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)
    return path
