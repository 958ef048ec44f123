"""The benchmark's results file: one JSON line per finished run, appended as each run ends."""

import json
import os
from pathlib import Path

REQUIRED = {"config", "config_hash", "seed", "metrics", "fit_seconds"}


class ResultsError(ValueError):
    """A malformed line in a results file."""


def load(path: Path) -> list[dict]:
    """Every run recorded in `path` (none if it does not exist); a malformed line is an error naming it."""
    if not path.exists():
        return []
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError as e:
            raise ResultsError(f"{path}:{number}: not JSON ({e.msg}); fix or delete that line, or start with --fresh") from e
        missing = REQUIRED - set(run) if isinstance(run, dict) else REQUIRED
        if missing:
            raise ResultsError(f"{path}:{number}: missing {sorted(missing)}; fix or delete that line, or start with --fresh")
        runs.append(run)
    return runs


def append(path: Path, run: dict) -> None:
    """Append one run as a JSON line and flush it to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(run, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def done(runs: list[dict]) -> set[tuple[str, int]]:
    """The (config hash, seed) pairs already finished."""
    return {(run["config_hash"], run["seed"]) for run in runs}
