"""No output overwrites an input: every entry point against every pair of options that can name one path (an output
and an input, or two outputs where one is a file), each spelled as a user might mix them up. Each is refused by
`options.check_paths` before any work starts, in one `error:` line (exit 2) that names both options and the path,
and every byte of the working folder stays: the journal's finished records, the configs, the pairs, the data.
An existing file of another kind than its option writes is refused the same way. The counts go to
docs/development.md.

Placeholders in an argv: {root} the working folder, {data} its MNIST folder ($MNIST_DIR)."""

import os
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from common import options
from tests import ROOT

pytestmark = [
    pytest.mark.filterwarnings("ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning"),  # runpy reruns an imported module
]
JOURNAL = "results/benchmark.jsonl"  # benchmark's default journal, holding finished records
PREDICT = "predict --config configs/tiny_pair.yaml --ckpt_path model.ckpt --pairs pairs.pt"
FIT = "--config configs/tiny_pair.yaml"
TUNE = "--configs tiny_base --trials 1 --seeds 1 --finalists 1 --fresh-seeds 1"

# entry point -> (output option, the input or output option it meets) -> (argv, the path the error line names)
COLLISIONS: dict[str, dict[tuple[str, str], tuple[str, str]]] = {
    "train": {
        ("--output", "--config"): (f"{PREDICT} --output configs/tiny_pair.yaml", "configs/tiny_pair.yaml"),
        ("--output", "--ckpt_path"): (f"{PREDICT} --output model.ckpt", "model.ckpt"),
        ("--output", "--pairs"): (f"{PREDICT} --output pairs.pt", "pairs.pt"),
        ("trainer.default_root_dir", "data.data_dir"): (f"{FIT} --trainer.default_root_dir {{data}}", "{data}"),
        ("trainer.logger.init_args.save_dir", "data.data_dir"): (
            f"{FIT} --trainer.logger.init_args.save_dir {{data}}",
            "{data}",
        ),
    },
    "benchmark": {
        ("--report", "--results"): (f"--report-only --report {JOURNAL}", JOURNAL),  # the case
        ("--figure", "--results"): (f"--report-only --figure {JOURNAL}", JOURNAL),
        ("--report", "--configs"): ("--configs tiny_pair --report configs/tiny_pair.yaml", "configs/tiny_pair.yaml"),
        ("--figure", "--configs"): ("--configs tiny_pair --figure configs/tiny_pair.yaml", "configs/tiny_pair.yaml"),
        ("--results", "--configs"): ("--configs tiny_pair --results configs/tiny_pair.yaml", "configs/tiny_pair.yaml"),
        ("--figure", "--report"): ("--configs tiny_pair --report new.md --figure new.md", "new.md"),
        ("--tensorboard", "--results"): ("--configs tiny_pair --results new --tensorboard new", "new"),
        ("--tensorboard", "--report"): ("--configs tiny_pair --report new --tensorboard new", "new"),
        ("--tensorboard", "--figure"): ("--configs tiny_pair --figure new --tensorboard new", "new"),
    },
    "tune": {
        ("--output", "--configs"): (f"{TUNE} --output configs/fixed", "configs/fixed/tiny_base.yaml"),
        ("--output", "--space"): (f"{TUNE} --space configs/tiny_base.yaml", "configs/tiny_base.yaml"),
        ("--storage", "--output"): (f"{TUNE} --output new --storage new/tiny_base.yaml", "new/tiny_base.yaml"),
        ("--export", "--configs"): (f"{TUNE} --export configs/fixed/tiny_base.yaml", "configs/fixed/tiny_base.yaml"),
    },
    "scripts.budget": {
        ("--report", "--trials"): (f"--trials {JOURNAL} --report {JOURNAL}", JOURNAL),
        ("--figure", "--trials"): (f"--trials {JOURNAL} --figure {JOURNAL}", JOURNAL),
        ("--figure", "--report"): ("--report new.md --figure new.md", "new.md"),
    },
    "framework.exercises.mnist": {
        ("out_dir", "data_dir"): ("--config configs/two_layer.yaml out_dir={data}", "{data}"),
    },
    "framework.exercises.course": {
        ("--out", "-path"): ("-task task1 -path {data} --out {data}", "{data}"),
    },
    # one output and no input, or no path at all: nothing to meet (an existing file of another kind: WRONG_KIND)
    "framework.exercises.taylor": {},
    "framework.exercises.toys": {},
    "compare.parity": {},
    # inputs only, or no path at all
    "framework.exercises.threshold": {},
    "framework.test": {},
    "compare.by_hand": {},
    "compare.speed": {},
    "scripts.validate": {},
    "scripts.bench_lightning": {},
    "scripts.profile_fit": {},
    "scripts.bench_ray": {},
}
CASES = [(entry, pair) for entry, row in COLLISIONS.items() for pair in row]

SPELLINGS = {  # one input, spelled another way by the output: (entry point, argv, the options named)
    "relative": ("benchmark", f"--report-only --report ./{JOURNAL}", ("--report", "--results")),
    "absolute": ("benchmark", f"--report-only --report {{root}}/{JOURNAL}", ("--report", "--results")),
    "..": ("benchmark", f"--report-only --report configs/../{JOURNAL}", ("--report", "--results")),
    "a symlink": ("benchmark", "--report-only --report link.md", ("--report", "--results")),
    "a symlinked folder": ("benchmark", "--report-only --report linked/benchmark.jsonl", ("--report", "--results")),
    "a hard link": ("benchmark", "--report-only --figure hard.png", ("--figure", "--results")),
    "a folder by ..": ("tune", f"{TUNE} --output configs/fixed/../fixed", ("--output", "--configs")),
    "a folder by symlink": ("tune", f"{TUNE} --output fixed_link", ("--output", "--configs")),
    "a checkpoint by ..": ("train", f"{PREDICT} --output results/../model.ckpt", ("--output", "--ckpt_path")),
}

WRONG_KIND = {  # an output naming an existing file of another kind: (entry point, argv, the option)
    "benchmark --results": ("benchmark", "--configs tiny_pair --results notes.txt", "--results"),
    "benchmark --report": ("benchmark", "--report-only --report notes.txt", "--report"),
    "benchmark --figure": ("benchmark", "--report-only --figure notes.txt", "--figure"),
    "train --output": ("train", f"{PREDICT} --output notes.txt", "--output"),
    "tune --export": ("tune", f"{TUNE} --export notes.txt", "--export"),
    "budget --report": ("scripts.budget", f"--trials {JOURNAL} --report notes.txt", "--report"),
    "taylor --figure": ("framework.exercises.taylor", "--figure configs/tiny_pair.yaml", "--figure"),
    "toys --figure": ("framework.exercises.toys", "--figure configs/tiny_pair.yaml", "--figure"),
}


@pytest.fixture
def places(workdir: Path) -> dict[str, str]:
    """The working folder with a journal of finished records (and a symlink, a symlinked folder and a hard link to
    it), the pairs and checkpoint predict reads, a note, tune's one cell, a framework MNIST config."""
    (workdir / "results").mkdir()
    (workdir / JOURNAL).write_text("".join((ROOT / "records" / "study.jsonl").read_text().splitlines(True)[:3]))
    (workdir / "link.md").symlink_to(JOURNAL)
    (workdir / "linked").symlink_to("results", target_is_directory=True)
    os.link(workdir / JOURNAL, workdir / "hard.png")
    torch.save(torch.zeros(3, 2, 14, 14), workdir / "pairs.pt")
    (workdir / "model.ckpt").write_bytes(b"a checkpoint\n")
    (workdir / "notes.txt").write_text("not a report\n")
    (workdir / "configs" / "fixed").mkdir()
    (workdir / "configs" / "fixed" / "tiny_base.yaml").write_text((workdir / "configs" / "tiny_base.yaml").read_text())
    (workdir / "fixed_link").symlink_to("configs/fixed", target_is_directory=True)
    (workdir / "configs" / "two_layer.yaml").write_text("model: two_layer\nhidden: 8\nepochs: 1\n")
    return {"root": str(workdir), "data": os.environ["MNIST_DIR"]}


def snapshot(root: Path) -> dict[Path, bytes | None]:
    """Every path under root (symlinks as their targets' names), with a file's bytes."""
    return {
        p: os.readlink(p).encode() if p.is_symlink() else p.read_bytes() if p.is_file() else None
        for p in root.rglob("*")
        if "__pycache__" not in p.parts
    }


def refused(entry: str, argv: str, places: dict[str, str], monkeypatch, capsys) -> str:
    """Run the entry point as `python -m` runs it; its one error line, once it exited 2 pointing to --help and left
    every byte of the working folder as it was."""
    root = Path(places["root"])
    before = snapshot(root)
    monkeypatch.setattr(sys, "argv", [entry, *argv.format(**places).split()])
    with pytest.raises(SystemExit) as info:
        runpy.run_module(entry, run_name="__main__")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert info.value.code == 2 and line.startswith("error: ") and "--help" in line, line
    assert snapshot(root) == before, "the working folder changed"
    assert (root / JOURNAL).read_text().count("\n") == 3, "a finished record is lost"
    return line


@pytest.mark.parametrize(("entry", "pair"), CASES, ids=[f"{e}-{o}-{i}" for e, (o, i) in CASES])
def test_an_output_that_meets_an_input_or_another_output_is_refused(places, monkeypatch, capsys, entry, pair):
    argv, path = COLLISIONS[entry][pair]
    line = refused(entry, argv, places, monkeypatch, capsys)
    output, other = pair
    assert f"{output} would write" in line and (f", which {other} " in line or f", which is {other} " in line), line
    assert path.format(**places) in line, line


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_an_input_is_the_input(places, monkeypatch, capsys, spelling):
    entry, argv, (output, other) = SPELLINGS[spelling]
    line = refused(entry, argv, places, monkeypatch, capsys)
    assert f"{output} would write" in line and f", which is {other} " in line, line


@pytest.mark.parametrize("case", WRONG_KIND)
def test_an_existing_file_of_another_kind_is_not_replaced(places, monkeypatch, capsys, case):
    entry, argv, option = WRONG_KIND[case]
    line = refused(entry, argv, places, monkeypatch, capsys)
    assert f"{option} " in line and "exists and is no ." in line and "remove the file first" in line, line


def test_what_may_be_written_is_not_refused(tmp_path):
    """A command's own earlier output of the same kind, two folder options naming one folder, an output folder
    holding the inputs, a path not there yet: all pass."""
    (tmp_path / "old.md").write_text("# an earlier report\n")
    (tmp_path / "in.yaml").write_text("a: 1\n")
    options.check_paths(
        options.parser(None),
        inputs={"--config": tmp_path / "in.yaml", "--none": None},
        outputs={
            "--report": (tmp_path / "old.md", (".md",)),
            "--figure": (tmp_path / "new" / "f.PNG", options.FIGURE),
            "--logs": (tmp_path, options.FOLDER),
            "--root": (str(tmp_path), options.FOLDER),
            "--out": ([tmp_path / "a.yaml", tmp_path / "b.yaml"], (".yaml",)),
        },
    )


def test_the_table_covers_every_entry_point(entry_points):
    assert set(COLLISIONS) == entry_points


def test_the_documented_counts_are_the_tables():
    text = (ROOT / "docs" / "development.md").read_text()
    section = text.split("### No output overwrites an input", 1)[1].split("\n#", 1)[0]
    documented = dict(re.findall(r"^\| (\S+) \| (\d+) \| .* \|$", section, re.MULTILINE))
    assert documented == {entry: str(len(row)) for entry, row in COLLISIONS.items() if row}
    words = " ".join(section.split())
    assert f"{len(CASES)} pairs of options over {len(COLLISIONS)} entry points" in words
    assert f"{len(SPELLINGS)} other spellings" in words and f"{len(WRONG_KIND)} files of another kind" in words
