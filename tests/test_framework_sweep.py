"""The MNIST exercise's one-key sweeps: outputs, the test split left alone, divergence, bad input."""

import csv
import math
from pathlib import Path

import matplotlib.image
import pytest

from framework.exercises import mnist as runner
from framework.exercises import sweep


def config_file(tmp_path: Path, mnist_dir: Path, **keys: object) -> str:
    """A tiny two-layer config; `keys` replace its values (each key once: the runner refuses a key given twice)."""
    path = tmp_path / "tiny.yaml"
    given = {"model": "two_layer", "hidden": 16, "epochs": 1, "batch_size": 32, "data_dir": mnist_dir} | keys
    path.write_text("".join(f"{key}: {value}\n" for key, value in (given | {"out_dir": tmp_path / "out"}).items()))
    return str(path)


@pytest.fixture
def no_test_split(monkeypatch):
    """load_mnist raises for the test split, wherever the runner would read it."""
    original = runner.load_mnist

    def guarded(split, data_dir=None):
        if split != "train":
            raise AssertionError(f"a sweep read the {split} split")
        return original(split, data_dir)

    monkeypatch.setattr(runner, "load_mnist", guarded)


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_a_tiny_sweep_writes_figure_csv_and_table_without_the_test_split(tmp_path, mnist_dir, no_test_split, capsys):
    summaries = runner.main(
        ["--config", config_file(tmp_path, mnist_dir), "--sweep", "lr", "0.05", "2", "--seeds", "1"]
    )
    out = tmp_path / "out" / "sweep_lr"
    rows = read_csv(out / "curves.csv")
    assert [(r["lr"], r["seed"], r["epoch"]) for r in rows] == [("0.05", "0", "1"), ("2", "0", "1")]
    assert list(rows[0]) == ["lr", "seed", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert matplotlib.image.imread(out / "curves.png").shape[2] in (3, 4)
    table = (out / "table.md").read_text()
    assert "| lr | final val acc % | best val acc % |" in table and "| 0.05 |" in table and "| 2 |" in table
    assert [s["lr"] for s in summaries] == [0.05, 2] and all(len(s["final"]) == 1 for s in summaries)
    printed = capsys.readouterr().out
    assert "lr=0.05 seed 0 (1/1)  epoch   1/1" in printed and "lr=2 seed 0 (1/1)" in printed  # progress lines
    assert table.split("\n\n")[1].strip() in printed


def test_every_other_key_stays_as_the_config_and_overrides_give_it(tmp_path, mnist_dir, no_test_split):
    runner.main(
        [
            "--config",
            config_file(tmp_path, mnist_dir),
            "epochs=2",
            "reg=1e-4",
            "--sweep",
            "hidden",
            "8",
            "16",
            "--seeds",
            "2",
        ]
    )
    out = tmp_path / "out" / "sweep_hidden"
    rows = read_csv(out / "curves.csv")
    assert {(r["hidden"], r["seed"]) for r in rows} == {("8", "0"), ("8", "1"), ("16", "0"), ("16", "1")}
    assert len(rows) == 8  # two epochs each
    assert "reg=0.0001" in (out / "table.md").read_text() and "epochs=2" in (out / "table.md").read_text()
    by_seed = {s: [float(r["train_loss"]) for r in rows if r["hidden"] == "16" and r["seed"] == s] for s in "01"}
    assert by_seed["0"] != by_seed["1"]  # fresh initialisation and batch order per seed


def test_a_sweep_value_trains_as_the_single_run_does(tmp_path, mnist_dir):
    config = config_file(tmp_path, mnist_dir, epochs=2)
    runner.main(["--config", config])
    runner.main(["--config", config, "--sweep", "lr", "0.1", "--seeds", "1"])
    single, swept = (read_csv(tmp_path / "out" / p) for p in ("curves.csv", "sweep_lr/curves.csv"))
    columns = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
    assert [[r[c] for c in columns] for r in single] == [[r[c] for c in columns] for r in swept]


def test_a_diverging_value_is_shown_as_diverged_not_a_crash(tmp_path, mnist_dir, no_test_split):
    summaries = runner.main(
        ["--config", config_file(tmp_path, mnist_dir, epochs=3), "--sweep", "lr", "0.1", "1e12", "--seeds", "2"]
    )
    stable, exploded = summaries
    assert stable["diverged"] == [] and len(stable["final"]) == 2
    assert len(exploded["diverged"]) == 2 and exploded["final"] == [] and all(e < 3 for e in exploded["diverged"])
    rows = [r for r in read_csv(tmp_path / "out" / "sweep_lr" / "curves.csv") if r["lr"] == "1000000000000.0"]
    assert not all(math.isfinite(float(rows[-1][k])) for k in ("train_loss", "val_loss"))  # stopped where it diverged
    table = (tmp_path / "out" / "sweep_lr" / "table.md").read_text()
    assert "| 1000000000000.0 | – | – | – | 2/2 (epoch" in table


def test_the_figure_marks_each_diverged_run_in_every_panel(monkeypatch, tmp_path):
    rows = [
        {"lr": lr, "seed": 0, "epoch": e, "train_loss": loss, "train_acc": 0.5, "val_loss": loss, "val_acc": 0.5}
        for lr, losses in ((0.1, [1.0, 0.5]), (9.0, [3.0, float("nan")]))
        for e, loss in enumerate(losses, 1)
    ]
    marked = []
    monkeypatch.setattr(
        sweep, "divergence", lambda ax, run, metric, colour, label: marked.append((run[-1]["lr"], metric, label))
    )
    sweep.plot(rows, "lr", tmp_path / "f.png", "t")
    assert sorted(marked) == sorted((9.0, m, "lr=9.0 (1/1 diverged)") for m in sweep.METRICS)


def test_partly_diverged_values_average_the_other_seeds():
    def run(value, seed, losses, accs):
        return [
            {
                "lr": value,
                "seed": seed,
                "epoch": e + 1,
                "train_loss": loss,
                "train_acc": 0.5,
                "val_loss": loss,
                "val_acc": acc,
            }
            for e, (loss, acc) in enumerate(zip(losses, accs))
        ]

    rows = (
        run(1.0, 0, [1.0, 0.5], [0.6, 0.8])
        + run(1.0, 1, [1.0, float("nan")], [0.7, 0.1])
        + run(1.0, 2, [0.9, 0.4], [0.7, 0.6])
    )
    (summary,) = sweep.summary(rows, "lr")
    assert summary["diverged"] == [2] and summary["final"] == [0.8, 0.6] and summary["best"] == [0.8, 0.7]
    assert summary["best_epoch"] == [2, 1]
    assert "| 1.0 | 70.00 ± 14.14 | 75.00 ± 7.07 | 1.5 | 1/3 (epoch 2) |" in sweep.table([summary], "lr")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sweep", "learning_rate", "0.1"], "unknown key 'learning_rate'"),
        (["--sweep", "model", "softmax"], "'model' is not numeric"),
        (["--sweep", "lr"], "--sweep lr: no values"),
        (["--sweep", "lr", "0.1", "-1"], "--sweep lr: lr must be a number > 0, got -1"),
        (["--sweep", "hidden", "8", "1.5"], "hidden must be an integer >= 1 and < 2^63, got 1.5"),
        (["--sweep", "reg", "abc"], "reg must be a number >= 0, got 'abc'"),
        (["--sweep", "lr", "0.1", "0.1"], "given twice"),
        (["--sweep", "lr", "0.1", "--seeds", "0"], "argument --seeds: 0 is not an integer in [1, 4294967296]"),
        (["--seeds", "2"], "--seeds applies to a sweep only"),
        (["--sweep", "seed", "1", "2"], "the seeds are varied by --seeds"),
        (["--sweep", "lr", "0.1", "epochs=3"], "'epochs=3' is not a value; put key=value overrides before --sweep"),
        (["--sweep", "lr", "[1, 2]"], "lr must be a number > 0, got [1, 2]"),
        (["--sweep", "lr", "[1,"], "is not a YAML value"),
        (["model=softmax", "--sweep", "hidden", "8", "16"], "the softmax model has no hidden layer"),
    ],
)
def test_bad_sweeps_fail_with_one_error_line_before_any_training(
    tmp_path, mnist_dir, monkeypatch, args, message, error_of
):
    monkeypatch.setattr(runner, "load_mnist", lambda *a, **k: pytest.fail("read data before the sweep was checked"))
    code, line = error_of(runner.main, ["--config", config_file(tmp_path, mnist_dir), *args])
    text = line
    assert text.startswith("error:") and message in text and "\n" not in text
    assert not (tmp_path / "out").exists()


def test_a_val_fraction_that_leaves_no_split_fails_before_any_training(tmp_path, mnist_dir, monkeypatch, error_of):
    monkeypatch.setattr(runner, "trained", lambda *a, **k: pytest.fail("trained before every split was checked"))
    code, line = error_of(
        runner.main, ["--config", config_file(tmp_path, mnist_dir), "--sweep", "val_fraction", "0.2", "0.999"]
    )
    assert line.startswith("error: val_fraction=0.999 leaves 0 training")


def test_numeric_keys_read_exponents_as_numbers_and_other_keys_stay_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: softmax\nlr: 1e-2\n")
    config = runner.load_config(path, ["reg=1e-4", "epochs=3", "out_dir=nan"])
    assert (config["lr"], config["reg"], config["epochs"]) == (1e-2, 1e-4, 3) and isinstance(config["epochs"], int)
    assert config["out_dir"] == Path("nan")


def test_overrides_may_follow_the_sweep_options(tmp_path, mnist_dir, no_test_split):
    runner.main(["--config", config_file(tmp_path, mnist_dir), "--sweep", "lr", "0.1", "--seeds", "1", "hidden=8"])
    assert "hidden=8" in (tmp_path / "out" / "sweep_lr" / "table.md").read_text()
