"""Command-line options that check their values where they enter: numbers finite and in range, output paths
writable and clear of the inputs, config files parsed to a mapping with no key given twice. A bad value is a usage
error that names the option, and every option's range shows in --help."""

import argparse
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from common import paths
from common.errors import InputError, OneLineParser


class Interval(NamedTuple):
    """The numbers from low to high; each end included where its flag says so."""

    low: float
    high: float
    low_included: bool = True
    high_included: bool = False

    def holds(self, x: float) -> bool:
        above = self.low <= x if self.low_included else self.low < x
        return above and (x <= self.high if self.high_included else x < self.high)

    def __str__(self) -> str:
        """`>= 1`, `> 0` or `in [0, 1)`: the words after "a number"."""
        low, high = (f"{int(x)}" if float(x).is_integer() else f"{x:g}" for x in (self.low, self.high))
        if self.high == math.inf:
            return f"{'>=' if self.low_included else '>'} {low}"
        if self.high == INT64 and self.high_included:  # an integer without another upper bound: what torch holds
            return f"{'>=' if self.low_included else '>'} {low} and < 2^63"
        return f"in {'[' if self.low_included else '('}{low}, {high}{']' if self.high_included else ')'}"


INT64 = 2**63 - 1  # the largest integer torch holds (int64): what a count, a width or a size can be at most
POSITIVE = Interval(0, math.inf, False)
NON_NEGATIVE = Interval(0, math.inf)
FRACTION = Interval(0, 1)  # [0, 1): a momentum, a dropout rate
OPEN_UNIT = Interval(0, 1, False)  # (0, 1): a share of the data
SEEDS = Interval(0, 2**32 - 1, True, True)  # what every seeded library takes (Lightning's seed_everything: 32 bits)
COUNTS = Interval(1, INT64, True, True)  # a count: epochs, a width, a batch size


def number(interval: Interval, integer: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number (an integer where asked) in `interval`. Its range shows in --help."""
    kind = "an integer" if integer else "a number"

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not (integer or math.isfinite(value)) or not interval.holds(value):  # an int is finite, however long
            raise argparse.ArgumentTypeError(f"{text} is not {kind} {interval}")
        return value

    parse.__name__ = f"{'integer' if integer else 'number'} {interval}"
    return parse


def integer(least: int, most: int = INT64) -> Callable[[str], float]:
    """An argparse type: an integer in [least, most]; by default at most INT64, what torch holds."""
    return number(Interval(least, most, True, True), integer=True)


seed = number(SEEDS, integer=True)  # an argparse type: a seed any library takes
seed_count = integer(1, int(SEEDS.high) + 1)  # an argparse type: N of seeds 0..N-1, each a seed


def checked_path(check: Callable[[Path], None], kind: str) -> Callable[[str], Path]:
    """An argparse type: the path, once `check` (an InputError for a path that cannot serve) passes it."""

    def parse(text: str) -> Path:
        try:
            check(Path(text))
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return Path(text)

    parse.__name__ = kind
    return parse


output_file = checked_path(paths.writable_file, "writable file")  # a folder, or a path under a file, is refused
output_folder = checked_path(paths.writable_folder, "writable folder")  # a file is refused

PathsGiven = str | os.PathLike | Iterable[str | os.PathLike] | None  # one path, several, or none
FIGURE = (".png", ".pdf", ".svg", ".eps", ".jpg", ".jpeg")  # a figure's kinds: matplotlib writes what its suffix names
FOLDER = ()  # the kinds of an output folder: it holds files of the command's own naming, and replaces no file


def listed(given: PathsGiven) -> list[Path]:
    """`given` as a list of paths."""
    if given is None:
        return []
    return [Path(given)] if isinstance(given, (str, os.PathLike)) else [Path(p) for p in given]


def check_paths(
    parser: argparse.ArgumentParser,
    inputs: Mapping[str, PathsGiven],
    outputs: Mapping[str, tuple[PathsGiven, tuple[str, ...]]],
) -> None:
    """Before any work starts, refuse an output that would destroy a file: one that is an input, one that another
    output writes too (two folders may be one), or an existing file of another kind than its option writes.

    `inputs` maps an option to the paths it reads; `outputs` maps an option to the paths it writes and their kinds,
    the suffixes it writes (".md"; FOLDER for a folder). Paths are compared as `paths.identity` resolves them. A
    refusal is a usage error, `parser.error`, naming the options and the path; the way to replace a file of another
    kind is to remove it first."""
    read = [(option, path, paths.identity(path)) for option, given in inputs.items() for path in listed(given)]
    written: list[tuple[str, Path, object, tuple[str, ...]]] = []
    for option, (given, kinds) in outputs.items():
        for path in listed(given):
            key, where = paths.identity(path), f"{option} would write {'' if kinds else 'in '}{path}"
            for other, seen, seen_key in read:
                if other != option and seen_key == key:
                    parser.error(f"{where}, which is {other} {seen}, an input: give {option} another path")
            for other, seen, seen_key, seen_kinds in written:
                if other != option and seen_key == key and (kinds or seen_kinds):
                    parser.error(f"{where}, which {other} {seen} writes too: give each output its own path")
            if kinds and path.is_file() and path.suffix.lower() not in kinds:
                parser.error(
                    f"{option} {path} exists and is no {'/'.join(kinds)} file: give {option} another path, or remove "
                    "the file first to replace it"
                )
            written.append((option, path, key, kinds))


class Distinct(argparse.Action):
    """A list option (nargs "+" or "*") whose values must not repeat: `action=options.Distinct`."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = list(values or [])
        repeats = sorted({v for v in items if items.count(v) > 1}, key=items.index)
        if repeats:
            raise argparse.ArgumentError(self, f"{', '.join(map(str, repeats))} given twice; give each once")
        setattr(namespace, self.dest, items)


def check_overrides(parser: argparse.ArgumentParser, items: list[str]) -> None:
    """Refuse a `--set` list with an item that is not KEY=VALUE, or a key given twice."""
    malformed = [item for item in items if "=" not in item]
    if malformed:
        parser.error(f"--set {malformed[0]!r} is not KEY=VALUE; e.g. --set model.dropout=0.1")
    keys = [item.partition("=")[0] for item in items]
    twice = sorted({key for key in keys if keys.count(key) > 1}, key=keys.index)
    if twice:
        parser.error(f"--set {' '.join(items)}: {twice[0]} given twice; give each key once")


COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's where PyYAML has it: 15 times faster


def unique_keys(text: str, source: str) -> None:
    """Refuse YAML in which one mapping gives a key twice (a YAML reader keeps the last and drops the first without a
    word): an InputError naming `source`, the key (dotted from the top) and both lines. YAML that does not parse is
    left to the loader, which says where."""
    try:
        root = yaml.compose(text, Loader=COMPOSER)
    except yaml.YAMLError:
        return
    todo: list[tuple[Any, str]] = [(root, "")] if root is not None else []
    seen: set[int] = set()  # an alias is the node it names: each node is walked once
    constructor = yaml.constructor.SafeConstructor()
    while todo:
        node, where = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            todo += [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            continue
        marks: dict[object, yaml.Mark] = {}
        for key, value in node.value:
            name = f"{where}.{key.value}" if where else str(key.value)
            if isinstance(key, yaml.ScalarNode):
                try:  # a key as the loader reads it: 1 and 01 are one key, 1 and '1' two
                    same: tuple = (type(read := constructor.construct_object(key)), read)
                except yaml.YAMLError:  # a tag only the loader knows: its text
                    same = (key.tag, key.value)
                first, second = marks.get(same), key.start_mark
                if first is not None:
                    lines = (
                        f"on line {first.line + 1} and line {second.line + 1}"
                        if first.line != second.line
                        else f"on line {first.line + 1}, at columns {first.column + 1} and {second.column + 1}"
                    )
                    raise InputError(
                        f"{source}: key {name} is given twice, {lines} (YAML would keep the second and drop the "
                        "first); give it once"
                    )
                marks[same] = second
            todo.append((value, name))


def load_yaml(text: str, source: str, load: Callable[[str], Any] = yaml.safe_load) -> Any:
    """The YAML `text` read by `load` (yaml.safe_load; jsonargparse passes its own), once `unique_keys` passes it:
    the one YAML reader of every file and value the project reads. `source` names the text in an error."""
    unique_keys(text, source)
    return load(text)


def load_mapping(path: Path, what: str = "config") -> dict:
    """The YAML file at `path` as a mapping (empty file: {}); a missing file, a YAML error (with its line and
    column), a key given twice (with both lines) or another shape is an InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{what} file {path} does not exist{' (it is a folder)' if path.is_dir() else ''}")
    try:
        loaded = load_yaml(path.read_text(), str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        raise InputError(f"{path}: a YAML mapping of {what} keys expected (key: value lines), got a {kind}")
    return loaded


class Help(argparse.RawDescriptionHelpFormatter):
    """The description as written; each option's help followed by its range and default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        notes = []
        kind = getattr(action.type, "__name__", "")
        if " " in kind:  # the types above: a range or a path's kind
            notes.append(kind)
        shown = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if shown and "default" not in (action.help or ""):
            notes.append("default %(default)s")
        return f"{action.help or ''} ({'; '.join(notes)})".strip() if notes else action.help or ""


def parser(description: str | None, **kwargs) -> OneLineParser:
    """The parser of an entry point: one-line usage errors (exit 2), ranges and defaults in --help."""
    return OneLineParser(description=description, formatter_class=Help, **kwargs)
