"""The benchmark's results file: one JSON line per finished run, appended as each run ends."""

import fnmatch
import json
import os
import sys
from pathlib import Path
from typing import cast

from common.errors import InputError
from common.files import write_atomically
from pairs.record import Record
from pairs.study import VARIED

# The keys every record holds (record.Record's required ones), with the types a line is checked for.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": str,
    "config_hash": str,
    "seed": int,
    "metrics": dict,
    "fit_seconds": (int, float),
}


# The blocks of seeds a run may belong to, in its optional "block" field: the main estimate (also every record without
# the field), and the replication block that `benchmark.py --replicate` runs afterwards on fresh seeds.
MAIN, REPLICATION = "main", "replication"
BLOCKS = (MAIN, REPLICATION)


def block(run: Record) -> str:
    """The block of seeds `run` belongs to: its "block" field, MAIN where it has none."""
    return run.get("block", MAIN)


class ResultsError(InputError):
    """A malformed line in a results file."""


def one_block_per_seed(runs: list[Record], where: str = "") -> None:
    """Refuse runs in which one (config, seed) has records in both blocks: a seed belongs to one block. `where`
    prefixes the message (the results file)."""
    blocks: dict[tuple[str, int], str] = {}
    for run in runs:
        if blocks.setdefault((run["config"], run["seed"]), block(run)) != block(run):
            raise InputError(
                f"{where}{run['config']} has runs in both the main and the replication block on seed {run['seed']}; "
                "a seed belongs to one block: delete the runs of one of them"
            )


def check(run: object, where: str) -> Record:
    """`run` if it is a record with every required field of the right type; else an error naming `where`."""
    if not isinstance(run, dict):
        raise ResultsError(f"{where}: not a JSON object; fix or delete that line")
    missing = sorted(set(FIELDS) - set(run))
    if missing:
        raise ResultsError(f"{where}: missing {missing}; fix or delete that line")
    for key, kind in FIELDS.items():
        if not isinstance(run[key], kind) or isinstance(run[key], bool):
            raise ResultsError(
                f"{where}: field {key!r} is {run[key]!r}, not {getattr(kind, '__name__', 'a number')}; "
                "fix or delete that line"
            )
    record = cast(Record, run)  # every key of FIELDS is there, of its type
    if block(record) not in BLOCKS:
        raise ResultsError(
            f"{where}: field 'block' is {record['block']!r}, not one of {', '.join(BLOCKS)}; fix or delete that line"
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in record["metrics"].values()):
        raise ResultsError(f"{where}: field 'metrics' must map names to numbers; fix or delete that line")
    return record


def load(path: Path, torn_tail: bool = False) -> list[Record]:
    """Every run recorded in `path` (none if it does not exist); a malformed line is an error naming it. With
    `torn_tail`, a last line cut off mid-write (no newline, not a whole record) is skipped: drop_torn_tail sets it
    aside before the next run is appended."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()
    runs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            run = check(json.loads(line), f"{path}:{number}")
        except (json.JSONDecodeError, ResultsError) as e:
            if torn_tail and number == len(lines) and not text.endswith("\n"):
                continue
            if isinstance(e, ResultsError):
                raise
            raise ResultsError(f"{path}:{number}: not JSON ({e.msg}); fix or delete that line") from e
        runs.append(run)
    return runs


def drop_torn_tail(path: Path) -> None:
    """A last line cut off by a kill mid-write (no newline, not a whole record) is moved to `<path>.bad`, with a
    warning, so the run can resume; a whole last record missing only its newline gets it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    text = path.read_text()
    if text.endswith("\n"):
        return
    head, _, tail = text.rpartition("\n")
    try:
        check(json.loads(tail), "")
    except (json.JSONDecodeError, ResultsError):
        bad = path.with_name(path.name + ".bad")
        with bad.open("a") as f:
            f.write(tail + "\n")
        write_atomically(path, head + "\n" if head else "")
        print(
            f"warning: {path} ended in a half-written line (a run killed mid-write); moved it to {bad}", file=sys.stderr
        )
        return
    with path.open("a") as f:
        f.write("\n")


def append(path: Path, run: Record) -> None:
    """Append one run as a JSON line and flush it to disk before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(run, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def done(runs: list[Record]) -> set[tuple[str, int, str | None]]:
    """The (config hash, seed, code version) triples already finished."""
    return {(run["config_hash"], run["seed"], run.get("code")) for run in runs}


def latest(records: list[Record], patterns: list[str] | None = None) -> list[Record]:
    """The runs of the configs matching the names or globs (all without), with their runs that vary one source; the
    last record of each (name, seed). A (name, seed) with runs in two blocks is an error."""
    one_block_per_seed(records)
    last = {(r["config"], r["seed"]): r for r in records}
    if patterns is None:
        return list(last.values())
    return [
        r
        for (name, _), r in last.items()
        if any(fnmatch.fnmatch(VARIED.sub(r"\g<config>", name), p.removesuffix(".yaml")) for p in patterns)
    ]
