"""Every entry point against every class of bad input: one `error:` line naming what was wrong, exit status 1 or 2,
no traceback, and nothing written. A class that an entry point has no input for is absent from its row; the
counts go to docs/development.md.

Placeholders in an argv: {folder} an existing folder, {file} an existing file, {unwritable} a path under /proc
(unwritable even for root, as CI runs), {bad_yaml} a file that is not YAML, {list_yaml} YAML of a list, {dup_yaml}
YAML that gives a key twice, {mlp_ckpt} a checkpoint of another model than configs/tiny_pair.yaml's, {ckpt} one of
its model, {pixels_01} pairs with pixels scaled to 0..1 instead of 0..255."""

import errno
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from common import options
from common.errors import InputError
from pairs.cli import PairCLI
from tests import ROOT

pytestmark = [
    pytest.mark.filterwarnings("ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning"),  # runpy reruns an imported module
]
CLASSES = (
    "a folder as an output file",
    "a file as an output folder",
    "an unwritable folder",
    "unparsable YAML",
    "YAML of the wrong shape",
    "NaN",
    "inf",
    "zero",
    "negative",
    "an empty list",
    "a duplicate",
    "a key given twice in YAML",
    "an integer out of range",
    "a checkpoint of another model",
    "pixels on another scale",
)
BIG = str(10**30)  # beyond torch's 64 bits and every seed's 32
TINY_FIT = "--config configs/tiny_pair.yaml --trainer.logger false"
TUNE = "--configs tiny_base --trials 1 --seeds 1 --finalists 1 --fresh-seeds 1"
MNIST = "--config configs/two_layer.yaml"
VALIDATE = "--config configs/tiny_pair.yaml --val-pairs 20"

TABLE: dict[str, dict[str, tuple[str, str]]] = {  # entry point -> class -> (argv, what the error line names)
    "train": {
        "a folder as an output file": (
            "predict --config configs/tiny_pair.yaml --ckpt_path {file} --pairs {file} --output {folder}",
            '"output"',
        ),
        "a file as an output folder": ("--config configs/tiny_pair.yaml --trainer.default_root_dir {file}", "root_dir"),
        "an unwritable folder": (
            "--config configs/tiny_pair.yaml --trainer.logger.init_args.save_dir {unwritable}",
            "save_dir",
        ),
        "unparsable YAML": ("--config {bad_yaml}", "bad.yaml, line 3"),
        "YAML of the wrong shape": ("--config {list_yaml}", "list.yaml"),
        "NaN": (f"{TINY_FIT} --optimizer.init_args.lr nan", '"lr"'),
        "inf": (f"{TINY_FIT} --model.aux_weight inf", "model.aux_weight"),
        "zero": (f"{TINY_FIT} --model.head_hidden 0", "model.head_hidden"),
        "negative": (f"{TINY_FIT} --data.val_pairs -1", "data.val_pairs"),
        "an empty list": (f"{TINY_FIT} --model.channels []", "channels"),
        "a key given twice in YAML": (
            "--config {dup_yaml}",
            "dup.yaml: key model is given twice, on line 1 and line 5",
        ),
        "an integer out of range": (f"{TINY_FIT} --data.seed {BIG}", "data.seed"),
        "a checkpoint of another model": (
            f"test {TINY_FIT} --ckpt_path {{mlp_ckpt}}",
            "model.arch 'baseline_mlp' in the checkpoint, 'pairnet' in the config",
        ),
        "pixels on another scale": (
            f"predict {TINY_FIT} --ckpt_path {{ckpt}} --pairs {{pixels_01}} --output predictions.pt",
            "to 1 (as if scaled to 0..1: multiply by 255)",
        ),
    },
    "benchmark": {
        "a folder as an output file": ("--configs tiny_pair --results {folder}", "--results"),
        "a file as an output folder": ("--configs tiny_pair --tensorboard {file}", "--tensorboard"),
        "an unwritable folder": ("--configs tiny_pair --report {unwritable}", "--report"),
        "unparsable YAML": ("--configs broken", "broken.yaml, line 3"),
        "YAML of the wrong shape": ("--configs listed", "listed.yaml"),
        "NaN": ("--configs tiny_pair tiny_base --precision nan", "--precision"),
        "inf": ("--configs tiny_pair tiny_base --precision inf", "--precision"),
        "zero": ("--configs tiny_pair --seeds 0", "--seeds"),
        "negative": ("--configs tiny_pair --seed-list -1", "--seed-list"),
        "an empty list": ("--configs", "--configs"),
        "a duplicate": ("--configs tiny_pair --seed-list 0 1 0", "seed 0"),
        "a key given twice in YAML": ("--configs duplicated", "duplicated.yaml: key model is given twice"),
        "an integer out of range": (f"--configs tiny_pair --epochs {BIG}", "--epochs"),
    },
    "tune": {
        "a file as an output folder": (f"{TUNE} --storage {{file}}", "--storage"),
        "an unwritable folder": (f"{TUNE} --output {{unwritable}}", "--output"),
        "unparsable YAML": (f"{TUNE} --space {{bad_yaml}}", "bad.yaml, line 3"),
        "YAML of the wrong shape": (f"{TUNE} --space {{list_yaml}}", "list.yaml"),
        "zero": (f"{TUNE} --workers 0", "--workers"),
        "negative": (f"{TUNE} --val-pairs -5", "--val-pairs"),
        "an empty list": ("--configs", "--configs"),
        "a duplicate": ("--configs tiny_base tiny_base --trials 1", "tiny_base given twice"),
        "a key given twice in YAML": (f"{TUNE} --space {{dup_yaml}}", "dup.yaml: key model is given twice"),
        "an integer out of range": (f"{TUNE} --epochs {BIG}", "--epochs"),
    },
    "framework.exercises.mnist": {
        "a file as an output folder": (f"{MNIST} out_dir={{file}}", "out_dir"),
        "an unwritable folder": (f"{MNIST} out_dir={{unwritable}}", "out_dir"),
        "unparsable YAML": ("--config {bad_yaml}", "bad.yaml, line 3"),
        "YAML of the wrong shape": ("--config {list_yaml}", "list.yaml"),
        "NaN": (f"{MNIST} lr=nan", "lr"),
        "inf": (f"{MNIST} lr=inf", "lr"),
        "zero": (f"{MNIST} hidden=0", "hidden"),
        "negative": (f"{MNIST} reg=-1", "reg"),
        "an empty list": (f"{MNIST} --sweep lr", "--sweep lr"),
        "a duplicate": (f"{MNIST} --sweep lr 0.1 0.1", "given twice"),
        "a key given twice in YAML": ("--config {dup_yaml}", "dup.yaml: key model is given twice"),
        "an integer out of range": (f"{MNIST} batch_size={BIG}", "batch_size"),
    },
    "framework.test": {
        "NaN": ("--lr nan", "--lr"),
        "inf": ("--lr inf", "--lr"),
        "zero": ("--epochs 0", "--epochs"),
        "negative": ("--momentum -0.5", "--momentum"),
        "an integer out of range": (f"--epochs {BIG}", "--epochs"),
    },
    "framework.exercises.course": {
        "a file as an output folder": ("-task task1 --out {file}", "--out"),
        "an unwritable folder": ("-task task1 --out {unwritable}", "--out"),
        "NaN": ("-task task1 --epochs nan", "--epochs"),
        "zero": ("-task task1 --epochs 0", "--epochs"),
        "negative": ("-task task1 --seed -1", "--seed"),
        "an integer out of range": (f"-task task1 --samples {BIG}", "--samples"),
    },
    "framework.exercises.taylor": {
        "a folder as an output file": ("--figure {folder}", "--figure"),
        "a file as an output folder": ("--figure {file}/taylor.png", "--figure"),
        "an unwritable folder": ("--figure {unwritable}", "--figure"),
        "negative": ("--seed -1", "--seed"),
        "an integer out of range": (f"--seed {2**32}", "--seed"),
    },
    "scripts.profile_fit": {
        "unparsable YAML": ("--config {bad_yaml}", "bad.yaml, line 3"),
        "YAML of the wrong shape": ("--config {list_yaml}", "list.yaml"),
        "negative": ("--seed -1", "--seed"),
        "a key given twice in YAML": ("--config {dup_yaml}", "dup.yaml: key model is given twice"),
        "an integer out of range": (f"--seed {2**32}", "--seed"),
    },
    "framework.exercises.threshold": {
        "NaN": ("--grid-step nan", "--grid-step"),
        "inf": ("--grid-limit inf", "--grid-limit"),
        "zero": ("--grid-step 0", "--grid-step"),
        "negative": ("--grid-limit -1", "--grid-limit"),
    },
    "framework.exercises.toys": {
        "a folder as an output file": ("--figure {folder}", "--figure"),
        "a file as an output folder": ("--figure {file}/toys.png", "--figure"),
        "an unwritable folder": ("--figure {unwritable}", "--figure"),
        "NaN": ("--lr nan", "--lr"),
        "inf": ("--lr inf", "--lr"),
        "zero": ("--epochs 0", "--epochs"),
        "negative": ("--batch-size -1", "--batch-size"),
        "an empty list": ("--datasets", "--datasets"),
        "a duplicate": ("--datasets disk peaks disk", "--datasets"),
        "an integer out of range": (f"--seeds {BIG}", "--seeds"),
    },
    "compare.by_hand": {
        "NaN": ("--cell mlp_aux_shared --epochs nan", "--epochs"),
        "zero": ("--cell mlp_aux_shared --rounds 0", "--rounds"),
        "negative": ("--cell mlp_aux_shared --epochs -1", "--epochs"),
        "an empty list": ("--cell", "--cell"),
        "a duplicate": ("--cell mlp_aux_shared mlp_aux_shared", "--cell"),
        "a key given twice in YAML": ("--cell mlp_noaux_shared", "mlp_noaux_shared.yaml: key model is given twice"),
        "an integer out of range": (f"--cell mlp_aux_shared --rounds {BIG}", "--rounds"),
    },
    "compare.parity": {
        "a file as an output folder": ("--out {file}", "--out"),
        "an unwritable folder": ("--out {unwritable}", "--out"),
        "zero": ("--seeds 0", "--seeds"),
        "negative": ("--seed -1", "--seed"),
        "an empty list": ("--tasks", "--tasks"),
        "a duplicate": ("--tasks disk disk", "--tasks"),
        "an integer out of range": (f"--seeds {BIG}", "--seeds"),
    },
    "compare.speed": {
        "NaN": ("--tolerance nan", "--tolerance"),
        "inf": ("--tolerance inf", "--tolerance"),
        "zero": ("--repeats 0", "--repeats"),
        "negative": ("--tolerance -1", "--tolerance"),
        "a duplicate": ("--cells mlp_aux_shared mlp_aux_shared", "--cells"),
        "an integer out of range": (f"--repeats {BIG}", "--repeats"),
    },
    "scripts.validate": {
        "unparsable YAML": ("--config {bad_yaml}", "bad.yaml, line 3"),
        "YAML of the wrong shape": ("--config {list_yaml}", "list.yaml"),
        "NaN": (f"{VALIDATE} --set model.aux_weight=nan", "aux_weight"),
        "inf": (f"{VALIDATE} --set model.aux_weight=inf", "aux_weight"),
        "zero": ("--config configs/tiny_pair.yaml --val-pairs 0", "--val-pairs"),
        "negative": ("--config configs/tiny_pair.yaml --seeds -1", "--seeds"),
        "an empty list": ("--config configs/tiny_pair.yaml --seeds", "--seeds"),
        "a duplicate": ("--config configs/tiny_pair.yaml --seeds 100 101 100", "100"),
        "a key given twice in YAML": ("--config {dup_yaml}", "dup.yaml: key model is given twice"),
        "an integer out of range": (f"--config configs/tiny_pair.yaml --val-pairs {BIG}", "--val-pairs"),
    },
    "scripts.bench_lightning": {
        "unparsable YAML": ("--config {bad_yaml}", "bad.yaml, line 3"),
        "YAML of the wrong shape": ("--config {list_yaml}", "list.yaml"),
        "NaN": ("--tolerance nan", "--tolerance"),
        "zero": ("--rounds 0", "--rounds"),
        "negative": ("--seed -1", "--seed"),
        "a key given twice in YAML": ("--config {dup_yaml}", "dup.yaml: key model is given twice"),
        "an integer out of range": (f"--rounds {BIG}", "--rounds"),
    },
    "scripts.budget": {
        "a folder as an output file": ("--report {folder}", "--report"),
        "a file as an output folder": ("--figure {file}/budget.png", "--figure"),
        "an unwritable folder": ("--report {unwritable}", "--report"),
    },
    "scripts.bench_ray": {
        "zero": ("--seeds 0", "--seeds"),
        "negative": ("--threads -1", "--threads"),
        "an empty list": ("--configs", "--configs"),
        "a duplicate": ("--configs fixed/baseline_cnn fixed/baseline_cnn", "given twice"),
        "an integer out of range": ("--seeds 101", "--seeds"),
    },
}
ENTRY_POINTS = sorted(TABLE)
CASES = [(entry, kind) for entry, row in TABLE.items() for kind in CLASSES if kind in row]


@pytest.fixture
def places(workdir: Path) -> dict[str, str]:
    """The placeholders' paths, made in the current folder; also a framework MNIST config and tune's one cell."""
    (workdir / "folder").mkdir()
    (workdir / "file").write_text("not a checkpoint, not pairs\n")
    (workdir / "bad.yaml").write_text("model:\n  trunk: cnn\n   aux_weight: [1\n")
    (workdir / "list.yaml").write_text("- model\n- data\n")
    (workdir / "configs" / "broken.yaml").write_text((workdir / "bad.yaml").read_text())
    (workdir / "configs" / "listed.yaml").write_text((workdir / "list.yaml").read_text())
    (workdir / "configs" / "two_layer.yaml").write_text("model: two_layer\nhidden: 8\nepochs: 1\n")
    (workdir / "configs" / "fixed").mkdir()
    (workdir / "configs" / "fixed" / "tiny_base.yaml").write_text((workdir / "configs" / "tiny_base.yaml").read_text())
    (workdir / "dup.yaml").write_text("model:\n  trunk: cnn\ndata:\n  n_pairs: 60\nmodel:\n  trunk: mlp\n")
    for name in ("configs/duplicated.yaml", "configs/fixed/mlp_noaux_shared.yaml"):
        (workdir / name).write_text((workdir / "dup.yaml").read_text())
    torch.save({"hyper_parameters": {"arch": "baseline_mlp", "hidden": [16]}}, workdir / "mlp.ckpt")
    torch.save({"hyper_parameters": {"arch": "pairnet", "trunk": "cnn"}}, workdir / "pair.ckpt")
    pixels = torch.rand(4, 2, 14, 14, generator=torch.Generator().manual_seed(0))
    torch.save(pixels / pixels.max(), workdir / "pixels_01.pt")  # up to 1 exactly
    return {
        "folder": str(workdir / "folder"),
        "file": str(workdir / "file"),
        "unwritable": "/proc/no-such-folder/out",
        "bad_yaml": str(workdir / "bad.yaml"),
        "list_yaml": str(workdir / "list.yaml"),
        "dup_yaml": str(workdir / "dup.yaml"),
        "mlp_ckpt": str(workdir / "mlp.ckpt"),
        "ckpt": str(workdir / "pair.ckpt"),
        "pixels_01": str(workdir / "pixels_01.pt"),
    }


def tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.parametrize(("entry", "kind"), CASES, ids=[f"{e}-{k}" for e, k in CASES])
def test_bad_input_is_one_error_line_and_writes_nothing(places, workdir, monkeypatch, capsys, entry, kind):
    argv, named = TABLE[entry][kind]
    before = tree(workdir)
    monkeypatch.setattr(sys, "argv", [entry, *argv.format(**places).split()])
    with pytest.raises(SystemExit) as info:  # the module's own __main__ block, as `python -m` runs it
        runpy.run_module(entry, run_name="__main__")
    code, line = info.value.code, capsys.readouterr().err.strip().splitlines()[-1]
    assert code in (1, 2) and line.startswith("error: ") and named in line, line
    assert (code == 2) == ("--help" in line), f"exit {code}: a usage error (2) points to --help, another (1) not"
    assert tree(workdir) == before, f"left behind: {sorted(tree(workdir) - before)}"


def test_the_table_covers_every_class_and_every_entry_point(entry_points):
    assert {kind for row in TABLE.values() for kind in row} == set(CLASSES)
    assert entry_points == set(TABLE)


BUGS = [
    ZeroDivisionError("injected bug"),
    ValueError("not enough values to unpack (expected 3, got 2)"),  # not an InputError: a bug, whatever its class
    FileNotFoundError(2, "No such file or directory", "pairs/nowhere.py"),  # a path our own code expected
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_unexpected_exception_keeps_its_traceback(workdir, monkeypatch, capsys, entry, bug):
    """The module's own `__main__` block, run as `python -m` runs it, with a bug injected where parsing starts."""

    def raise_bug(*args, **kwargs):
        raise bug

    monkeypatch.setattr(PairCLI, "__init__", raise_bug)  # where train.py starts
    monkeypatch.setattr(options, "parser", raise_bug)  # where every other entry point starts
    monkeypatch.setattr(sys, "argv", [entry])
    with pytest.raises(type(bug), match=re.escape(bug.strerror if isinstance(bug, OSError) else str(bug))):
        runpy.run_module(entry, run_name="__main__")
    assert "error:" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [InputError("--x 3 > 2"), OSError(errno.ENOSPC, "No space left on device"), PermissionError(13, "denied", "out")],
    ids=["input", "disk full", "permission"],
)
def test_bad_input_and_the_machine_s_limits_are_one_line(error_of, error):
    def main(argv):
        raise error

    code, line = error_of(main, [])
    assert code == 1 and line.startswith("error: ") and (str(error) in line or error.strerror in line)


def test_the_documented_counts_are_the_tables():
    text = (ROOT / "docs" / "development.md").read_text()
    documented = dict(re.findall(r"^\| ([^|\s][^|]*?)(?: \(.*\))? \| (\d+) \|$", text, re.MULTILINE))
    assert documented == {kind: str(sum(kind in row for row in TABLE.values())) for kind in CLASSES}
    assert f"{len(TABLE)} entry points" in text and f"The {len(CASES)} cells" in text
