"""Every command the README lists, run as a user runs it (`python -m ...` in a fresh process) on tiny arguments:
it exits 0 and writes what it says; its refusals run in-process, through the one error path (`error_of`). The
study's own entry points (train.py, benchmark.py, tune.py) have their own test files."""

import importlib
import os
from pathlib import Path

import pytest
import torch

from tests import ROOT

REAL = Path(os.environ.get("MNIST_DIR", "../shared/mnist"))
needs_mnist = pytest.mark.skipif(
    not (REAL / "train-images-idx3-ubyte.gz").exists(), reason="the real MNIST ($MNIST_DIR) is not here"
)
pytestmark = pytest.mark.slow


def ok(run) -> str:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    return run.stdout


def test_validate_scores_a_candidate_on_validation_pairs(workdir, command):
    out = ok(
        command(
            workdir,
            "-m",
            "scripts.validate",
            "--config",
            "configs/tiny_base.yaml",
            "--seeds",
            "100",
            "--val-pairs",
            "20",
            "--set",
            "model.dropout=0.1",
        )
    )
    assert "configs/tiny_base.yaml as is: val acc" in out and "vs the config as is" in out


def test_bench_lightning_times_two_fits_that_end_in_the_same_weights(workdir, command):
    out = ok(command(workdir, "-m", "scripts.bench_lightning", "--config", "configs/tiny_base.yaml", "--rounds", "1"))
    assert "ratio Lightning / plain" in out and "the two fits end in the same weights" in out


def ending_in(value: float):
    """A stand-in fit: no training, one second, a network whose every parameter equals `value`."""

    def fit(*_):
        net = torch.nn.Linear(2, 1)
        for p in net.parameters():
            torch.nn.init.constant_(p, value)
        return 1.0, net

    return fit


def test_bench_lightning_refuses_to_time_different_computations(monkeypatch, error_of):
    from scripts import bench_lightning

    monkeypatch.setattr(bench_lightning, "build", lambda config, seed: None)
    monkeypatch.setattr(bench_lightning, "plain_fit", ending_in(0.0))
    monkeypatch.setattr(bench_lightning, "lightning_fit", ending_in(1.0))
    code, line = error_of(bench_lightning.main, ["--rounds", "1"])
    assert code == 1 and line.startswith("error: final weights") and "do not compute the same thing" in line


@pytest.mark.ray
def test_bench_ray_compares_the_backends_on_the_same_grid(workdir, command):
    out = ok(command(workdir, "-m", "scripts.bench_ray", "--configs", "tiny_base", "--seeds", "1", "--epochs", "1"))
    assert "metrics identical: True" in out


def test_speed_races_only_after_both_sides_agree(tmp_path, command, monkeypatch, error_of):
    out = ok(command(ROOT, "-m", "compare.speed", "--repeats", "1", "--cells", "mlp_aux_shared"))
    assert "| 1000 |" in out and "| mlp_aux_shared |" in out
    from compare import speed

    apart = (lambda: None, lambda: None, lambda: [(torch.zeros(3), torch.ones(3))])  # sides that end apart
    monkeypatch.setattr(speed, "disk_epochs", lambda *_: apart)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the test process keeps its threads
    code, line = error_of(speed.main, ["--repeats", "1", "--cells"])
    assert code == 1 and "do not compute the same thing" in line


def test_parity_on_the_disk_task(tmp_path, command):
    out = ok(
        command(ROOT, *"-m compare.parity --tasks disk --seeds 1 --epochs 2 --out".split(), str(tmp_path / "versus"))
    )
    assert "| disk |" in out and (tmp_path / "versus" / "loss_curves.png").is_file()


@needs_mnist
def test_parity_on_mnist_and_on_a_study_cell(tmp_path, command):
    env = {"MNIST_DIR": str(REAL.resolve())}
    out = ok(
        command(
            ROOT,
            *"-m compare.parity --tasks mnist --seeds 1 --epochs 1 --out".split(),
            str(tmp_path / "versus"),
            env=env,
        )
    )
    assert "| mnist |" in out
    out = ok(command(ROOT, "-m", "compare.parity", "--parity", "mlp_aux_shared", "--epochs", "1", env=env))
    assert "goal <= 1e-10: met" in out


@needs_mnist
def test_the_study_by_hand(command):
    out = ok(
        command(
            ROOT, *"-m compare.by_hand --cell mlp_aux_shared --epochs 1".split(), env={"MNIST_DIR": str(REAL.resolve())}
        )
    )
    assert "| mlp_aux_shared |" in out


def test_framework_mnist_runner(tmp_path, mnist_dir, command):
    out = ok(
        command(
            ROOT,
            *"-m framework.exercises.mnist --config configs/framework/softmax.yaml epochs=1".split(),
            f"data_dir={mnist_dir}",
            f"out_dir={tmp_path / 'out'}",
        )
    )
    assert "test accuracy" in out and (tmp_path / "out" / "curves.png").is_file()


def test_framework_toys_runner(tmp_path, command):
    ok(
        command(
            ROOT,
            *"-m framework.exercises.toys --datasets disk --seeds 1 --epochs 2 --figure".split(),
            str(tmp_path / "toys.png"),
        )
    )
    assert (tmp_path / "toys.png").is_file()


def test_framework_taylor_runner(tmp_path, command):
    ok(command(ROOT, "-m", "framework.exercises.taylor", "--figure", str(tmp_path / "taylor.png")))
    assert (tmp_path / "taylor.png").is_file()


@pytest.mark.parametrize("how", [["framework/test.py"], ["-m", "framework.test"]])
def test_the_disk_task_runs_as_a_file_and_as_a_module(tmp_path, command, how):
    out = ok(command(ROOT, *how, "--epochs", "2"))
    assert "test error" in out


TWICE = {
    "framework.exercises.taylor": [],
    "framework.exercises.toys": ["--datasets", "disk", "--seeds", "1", "--epochs", "1"],
    "framework.exercises.course": ["-task", "task3", "--samples", "40", "--epochs", "1"],
    "framework.exercises.threshold": [],
}


@pytest.mark.parametrize("module", TWICE)
def test_a_runner_runs_twice_in_a_row_and_writes_only_under_runs(tmp_path, monkeypatch, module):
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(module).main
    main(TWICE[module])
    first = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    main(TWICE[module])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == first
    assert all(path.parts[0] == "runs" for path in first)
