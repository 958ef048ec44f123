"""tune.py: the declared space is the same for every cell of a trunk, tuning never sees the test pairs, an
interrupted tuning resumes without losing or repeating a fit, the winner is a config train.py runs, and bad
input is one error."""

import json
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

import tune
from pairs import runs, tuning
from pairs.data import PairDataModule
from pairs.space import TuneError, load_space
from tests import ROOT

SPACE = """fixed:
  optimizer.class_path: torch.optim.AdamW
space:
  optimizer.init_args.lr: {low: 1.0e-3, high: 1.0e-1, log: true}
  data.batch_size: {choices: [16, 32]}
  model.aux_weight: {low: 0.1, high: 10.0, log: true, only: aux}
"""
WIDE = """fixed:
  optimizer.class_path: torch.optim.AdamW
space:
  optimizer.init_args.lr: {low: 1.0e-3, high: 1.0e-1, log: true}
  trainer.max_epochs: {choices: [2, 4]}
  lr_scheduler: {choices: [constant, cosine]}
  model.width: {choices: [0.5, 1.0]}
  data.rotate: {choices: [0.0, 10.0]}
  model.prediction: {choices: [head, digits], only: pairnet}
  model.aux_weight: {low: 0.1, high: 10.0, log: true, only: aux}
pruner: {min_resource: 1, reduction_factor: 2}
"""
QUICK = [
    "--trials",
    "3",
    "--seeds",
    "2",
    "--finalists",
    "2",
    "--fresh-seeds",
    "1",
    "--val-pairs",
    "20",
    "--workers",
    "1",
    "--space",
    "space.yaml",
    "--storage",
    "store",
    "--output",
    "tuned",
]


@pytest.fixture
def workdir(tmp_path, mnist_dir, tiny_config, monkeypatch):
    """A folder with two tiny fixed-recipe cells (one with the aux loss), a tiny space, MNIST_DIR set."""
    (tmp_path / "configs" / "fixed").mkdir(parents=True)
    for name, arch in (("tiny_aux", "pairnet"), ("tiny_base", "baseline_cnn")):
        (tmp_path / "configs" / "fixed" / f"{name}.yaml").write_text(tiny_config(arch))
    (tmp_path / "space.yaml").write_text(SPACE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    return tmp_path


def study_of(cell: str) -> optuna.Study:
    return optuna.load_study(study_name=cell, storage=JournalStorage(JournalFileBackend(f"store/{cell}.journal")))


@pytest.mark.parametrize("trunk", ["cnn", "mlp"])
def test_every_cell_of_a_trunk_gets_the_same_space(trunk):
    space = load_space(ROOT / "configs/search/space.yaml")
    cells = {
        name: space.for_cell(tuning.cell_kinds(ROOT / f"configs/fixed/{name}.yaml", space)[0])
        for name in (f"{trunk}_{a}_{s}" for a in ("aux", "noaux") for s in ("shared", "separate"))
    }
    aux_only = {key for key, (_, only) in space.params.items() if only == "aux"}
    assert aux_only == {"model.aux_weight"}
    reference = cells[f"{trunk}_noaux_shared"]
    for key in ("trainer.max_epochs", "model.width", "lr_scheduler", "data.shift", "data.rotate", "model.prediction"):
        assert key in reference  # the wide space's keys reach every cell
    for name, distributions in cells.items():
        expected = set(reference) | (aux_only if "_aux_" in name else set())
        assert set(distributions) == expected, name
        assert all(distributions[key] == space.params[key][0] for key in distributions)
    baseline = space.for_cell(tuning.cell_kinds(ROOT / f"configs/fixed/baseline_{trunk}.yaml", space)[0])
    assert set(baseline) == set(reference) - {"model.head_hidden", "model.prediction"}  # no digit outputs


@pytest.mark.parametrize("space", [SPACE, WIDE], ids=["narrow", "wide"])
def test_a_failure_mid_tuning_resumes_without_losing_or_repeating_a_fit(workdir, monkeypatch, mid_run_failure, space):
    Path("space.yaml").write_text(space)
    failure, seen = mid_run_failure
    calls, original_validate, original_finish = [], runs.validate, tuning.CellTuner.finish
    resumed: list[str] = []  # the checkpoints fits continued from

    def counted(task):
        calls.append((task.args, task.seed))
        resumed.extend([task.resume] if task.resume else [])
        return original_validate(task)

    def interrupt_at_fifth(self, key, record):  # wide: at the first fit that continued from a checkpoint
        if (len(calls) == 5) if space == SPACE else (len(resumed) == 1):
            raise failure
        return original_finish(self, key, record)

    def refuse(self):
        raise AssertionError("tuning must never touch the test pairs")

    monkeypatch.setattr(runs, "validate", counted)
    monkeypatch.setattr(PairDataModule, "test_dataloader", refuse)
    monkeypatch.setattr(tuning.CellTuner, "finish", interrupt_at_fifth)
    with pytest.raises(seen[0], match=seen[1]):
        tune.main(QUICK)
    assert not Path("tuned").exists()
    monkeypatch.setattr(tuning.CellTuner, "finish", original_finish)
    outcomes = tune.main(QUICK)
    assert len(calls) == len(set(calls)) + 1  # the interrupted fit ran twice, no other
    fits = 0
    for outcome in outcomes:
        study = study_of(outcome["cell"])
        live = [t for t in study.trials if t.state != optuna.trial.TrialState.FAIL]  # an interrupted trial is retried
        assert outcome["trials"] == len(live) == 3
        fits += sum(k.startswith("val_") for t in live for k in t.user_attrs)
        fits += sum(len(v) for v in study.user_attrs["rescores"].values())
        assert set(outcome["winner"]["params"]) == set(study.trials[0].params)
        assert ("model.aux_weight" in outcome["winner"]["params"]) == (outcome["cell"] == "tiny_aux")
    assert fits == len(calls) - 1
    retried = [t for cell in ("tiny_aux", "tiny_base") for t in study_of(cell).trials if tuning.RETRY in t.user_attrs]
    assert len(retried) == 1 and retried[0].state != optuna.trial.TrialState.FAIL
    if space == WIDE:  # the retried trial went on from the interrupted one's checkpoint, renamed to it
        assert any(f"trial_{retried[0].number}_" in path for path in resumed)
    assert all(Path(f"store/{cell}_history.png").stat().st_size > 0 for cell in ("tiny_aux", "tiny_base"))
    assert not list(Path("store").glob("*.checkpoints"))  # a finished tuning leaves no checkpoints


def test_the_pruner_stops_trailing_trials_at_the_first_rung_and_records_them(workdir, monkeypatch):
    Path("space.yaml").write_text(WIDE)
    trials: list[tuple[str, ...]] = []

    def scripted(task):  # the k-th trial scores 0.9 - 0.1 k at every rung and seed
        args = tuple(a for a in task.args if not a.startswith("--trainer.max_epochs"))
        if args not in trials:
            trials.append(args)
        return {"val_acc": 0.9 - 0.1 * trials.index(args), "fit_seconds": 0.0, "parameters": 7}

    monkeypatch.setattr(runs, "validate", scripted)
    [outcome] = tune.main([*QUICK, "--configs", "tiny_aux", "--finalists", "1"])
    assert outcome["trials"] == 3 and outcome["pruned"] == 2
    rows = [json.loads(line) for line in Path("store/trials.jsonl").read_text().splitlines()]
    assert [(r["trial"], r["state"]) for r in rows] == [(0, "complete"), (1, "pruned"), (2, "pruned")]
    first = rows[0]
    assert list(first["scores"]) == [str(e) for e in [1, 2, 4][: [1, 2, 4].index(first["epochs"]) + 1]]
    for row, value in zip(rows, (0.9, 0.8, 0.7)):
        assert row["value"] == pytest.approx(value) and row["parameters"] == 7
        assert all(set(by_seed) == {"100", "101"} for by_seed in row["scores"].values())
    assert [list(r["scores"]) for r in rows[1:]] == [["1"], ["1"]]  # stopped after the first rung


def test_a_fit_continued_from_its_checkpoint_is_the_uninterrupted_fit(workdir, tiny_config):
    Path("configs/fixed/tiny_aug.yaml").write_text(
        tiny_config("pairnet", 1, True).replace("max_epochs: 1", "max_epochs: 4")
    )
    base = ("--config", "configs/fixed/tiny_aug.yaml", *runs.QUIET, *runs.validation_args(20), "--model.dropout=0.3")
    cosine = '--lr_scheduler={"class_path": "torch.optim.lr_scheduler.CosineAnnealingLR", "init_args": {"T_max": 4}}'
    first = runs.Task("a", (*base, cosine, "--trainer.max_epochs=2"), 5, save="ckpt/a.ckpt")
    runs.validate(first)
    with runs.quiet():
        continued, _ = runs.fitted(runs.Task("a", (*base, cosine), 5, resume="ckpt/a.ckpt"), validate_once=True)
        whole = runs.fit_cli([*base, cosine, *runs.seed_args(5)])
        whole.trainer.check_val_every_n_epoch = 2  # scored after epochs 2 and 4, as the continued fit was
        whole.trainer.fit(whole.model, datamodule=whole.datamodule)
    for a, b in zip(continued.model.state_dict().values(), whole.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert list(Path("ckpt").iterdir()) == [Path("ckpt/a.ckpt")]  # no temporary file left


def test_the_winner_is_a_config_that_train_runs(workdir, train):
    [aux, _] = tune.main(QUICK)
    text = Path("tuned/tiny_aux.yaml").read_text()
    assert text.startswith("# tiny_aux, tuned: chosen on validation pairs") and "python tune.py" in text
    config = yaml.safe_load(text)
    params = aux["winner"]["params"]
    assert config["optimizer"]["class_path"] == "torch.optim.AdamW"
    assert config["optimizer"]["init_args"]["lr"] == params["optimizer.init_args.lr"]
    assert config["data"]["batch_size"] == params["data.batch_size"]
    assert config["model"]["aux_weight"] == params["model.aux_weight"]
    assert "val_pairs" not in config["data"]  # the tuned config trains on all the training pairs
    run = train(workdir, "--config", "tuned/tiny_aux.yaml", "--trainer.enable_progress_bar=false")
    assert run.returncode == 0, run.stderr
    assert "test accuracy" in run.stdout and (workdir / "runs" / "tiny_aux" / "version_0").is_dir()


def test_a_smaller_budget_judges_a_cell_on_its_first_trials(workdir):
    tune.main([*QUICK, "--configs", "tiny_base"])
    [outcome] = tune.main([*QUICK, "--configs", "tiny_base", "--trials", "2"])
    assert outcome["trials"] == 2 and len(study_of("tiny_base").trials) == 3
    assert {row["trial"] for row in outcome["finalists"]} <= {0, 1}


def test_a_storage_from_another_space_is_refused(workdir):
    tune.main([*QUICK, "--configs", "tiny_base", "--trials", "2"])
    Path("space.yaml").write_text(SPACE.replace("1.0e-1, log", "0.5, log"))
    with pytest.raises(TuneError, match="tiny_base.journal holds a study of tiny_base with a different space"):
        tune.main([*QUICK, "--configs", "tiny_base", "--trials", "2"])


def test_a_narrow_journal_is_not_resumed_with_the_wide_space(workdir):
    tune.main([*QUICK, "--configs", "tiny_base"])
    stored = Path("store/tiny_base.journal").read_bytes()
    Path("space.yaml").write_text(WIDE)
    with pytest.raises(TuneError, match="holds a study of tiny_base with a different pruner, space"):
        tune.main([*QUICK, "--configs", "tiny_base"])
    assert Path("store/tiny_base.journal").read_bytes() == stored


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "declares no parameters"),
        ("space: {}", "declares no parameters"),
        ("space: [", "line 1, column 9: not valid YAML"),
        ("space:\n  model.dropout: 0.5", "space key 'model.dropout': expected a mapping"),
        ("space:\n  model.dropout: {low: 0.5, high: 0.1}", "space key 'model.dropout'"),
        ("space:\n  model.dropout: {lo: 0.0, high: 0.5}", r"expected \{low, high"),
        ("space:\n  model.dropout: {choices: []}", r"choices: \[non-empty list\]"),
        ("space:\n  model.dropout: {low: 0.0, high: 0.5, only: cnn}", "only must be one of pairnet, aux"),
        ("space:\n  model.nope: {low: 0.0, high: 0.5}", "has no key model.nope of the search space"),
        ("space:\n  trainer.max_epochs: {choices: [0, 4]}", "'trainer.max_epochs': a trial needs 1 or more epochs"),
        ("space:\n  trainer.max_epochs: {low: 0, high: 4}", "'trainer.max_epochs': a trial needs 1 or more epochs"),
        ("space:\n  trainer.max_epochs: {choices: [2.5]}", "'trainer.max_epochs': every value must be an integer"),
        ("space:\n  model.width: {choices: [0.0, 1.0]}", "'model.width': the width multiplier must be > 0"),
        ("space:\n  model.width: {low: -1.0, high: 1.0}", "'model.width': the width multiplier must be > 0"),
        ("space:\n  lr_scheduler: {choices: [constant, step]}", "choices must be among constant, cosine, got 'step'"),
        ("space:\n  model.dropout: {low: 0.0, high: 0.5, only: aux}", "only: aux would search it for the cells"),
        (
            "space:\n  trainer.max_epochs: {choices: [2, 4]}\npruner: {min_resource: 4, reduction_factor: 2}",
            "pruner.min_resource: 4 epochs is not below the longest trial's 4",
        ),
        (
            "space:\n  model.dropout: {low: 0.0, high: 0.5}\npruner: {min_resource: 1, reduction_factor: 2}",
            "pruner.min_resource: 1 epochs is not below tiny_aux's 1",
        ),
        ("space:\n  model.dropout: {choices: [0.1]}\npruner: {min_resource: 2}", "pruner: expected {min_resource"),
        (
            "space:\n  model.dropout: {choices: [0.1]}\npruner: {min_resource: 2, reduction_factor: 1}",
            "pruner.reduction_factor: expected an integer >= 2, got 1",
        ),
    ],
)
def test_a_bad_space_is_one_error(workdir, text, message):
    Path("space.yaml").write_text(text)
    with pytest.raises(TuneError, match=message):
        tune.main(QUICK)
    assert not Path("store").exists() and not Path("tuned").exists()


def test_epochs_cannot_override_a_searched_length(workdir):
    Path("space.yaml").write_text(WIDE)
    with pytest.raises(TuneError, match="--epochs 3 would be overridden by the space's trainer.max_epochs"):
        tune.main([*QUICK, "--epochs", "3"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--configs", "nope"], "no config matches 'nope'; available: tiny_aux, tiny_base"),
        (["--trials", "0"], "argument --trials: 0 is not an integer >= 1"),
        (["--trials", "2", "--finalists", "3"], "--finalists (3) cannot exceed --trials (2)"),
    ],
)
def test_bad_arguments_are_one_error(workdir, capsys, args, message):
    with pytest.raises(SystemExit):
        tune.main([*QUICK, *args])
    assert message in capsys.readouterr().err
