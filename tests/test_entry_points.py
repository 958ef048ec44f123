"""Every command the README lists, run as a user runs it (`python -m ...` in a fresh process) on tiny arguments:
it exits 0 and writes what it says; its refusals run in-process, through the one error path (`error_of`). The
study's own entry points (train.py, benchmark.py, tune.py) have their own test files."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from common.errors import Failure
from pairs.classifier import PairClassifier
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


@pytest.mark.parametrize("config", ["tiny_base", "tiny_pair", "tiny_ensemble"])
def test_bench_lightning_times_two_fits_that_end_in_the_same_weights(workdir, command, tiny_config, config):
    ensemble = tiny_config("pairnet").replace("model:\n", "model:\n  members: 2\n")
    assert "members: 2" in ensemble
    (workdir / "configs" / "tiny_ensemble.yaml").write_text(ensemble)
    args = (
        "-m",
        "scripts.bench_lightning",
        "--config",
        f"configs/{config}.yaml",
        "--rounds",
        "1",
        "--phases",
        "--floor",
    )
    out = ok(command(workdir, *args))
    assert "the two fits end in the same weights" in out
    for network in ("config", "one weight"):  # the tiny configs: 60 pairs in batches of 30, one epoch
        assert re.search(
            rf"{network} +ratio Lightning / plain = [0-9.]+  \(Lightning's extra -?[0-9.]+ ms a step, 2 steps", out
        )
    assert re.search(
        r"over a plain step of [0-9.]+ ms it leaves this config at -?[0-9.]+ x the plain loop at best", out
    )
    for fit in ("plain", "lightning"):
        assert re.search(rf"{fit} +phases: forward [0-9.]+ s  backward [0-9.]+ s  the rest [0-9.]+ s", out)


@pytest.mark.parametrize("target_weight", [1.0, 0.0])
def test_the_floor_trains_its_one_weight_network(workdir, tiny_config, target_weight):
    from pairs.runs import quiet
    from scripts.bench_lightning import OneWeight, build, lightning_fit

    config = tiny_config("pairnet").replace("model:\n", f"model:\n  target_weight: {target_weight}\n")
    assert f"target_weight: {target_weight}" in config
    (workdir / "configs" / "floor.yaml").write_text(config)
    with quiet():
        _, net = lightning_fit(build("configs/floor.yaml", 0, floor=True), 0)
    [member] = net.members
    assert isinstance(member, OneWeight) and member.digits is not None
    assert member.digits.abs().sum() > 0  # the aux loss trains the digit logits
    assert (member.logits.abs().sum() > 0) == (target_weight > 0)  # the target loss, where it is on, the target's


def test_the_phase_timers_time_forward_and_backward_and_leave_nothing_behind():
    from scripts.bench_lightning import phase_timers

    net, backward = PairClassifier(members=2).net, torch.Tensor.backward
    with phase_timers(net) as spent:
        net(torch.randn(4, 2, 14, 14))[0].sum().backward()
        assert spent["forward"] > 0 and spent["backward"] > 0
    assert torch.Tensor.backward is backward
    assert not any(member._forward_hooks or member._forward_pre_hooks for member in net.members)


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

    monkeypatch.setattr(bench_lightning, "build", lambda *_: None)
    monkeypatch.setattr(bench_lightning, "plain_fit", ending_in(0.0))
    monkeypatch.setattr(bench_lightning, "lightning_fit", ending_in(1.0))
    code, line = error_of(bench_lightning.main, ["--rounds", "1"])
    assert code == 1 and line.startswith("error: final weights") and "do not compute the same thing" in line


def test_bench_lightning_refuses_a_floor_of_different_computations(monkeypatch, error_of):
    from scripts import bench_lightning

    build = lambda config, seed, floor: SimpleNamespace(floor=floor, trainer=SimpleNamespace(global_step=1))
    monkeypatch.setattr(bench_lightning, "build", build)
    monkeypatch.setattr(bench_lightning, "plain_fit", ending_in(0.0))
    monkeypatch.setattr(bench_lightning, "lightning_fit", lambda cli, seed: ending_in(float(cli.floor))())
    code, line = error_of(bench_lightning.main, ["--rounds", "1", "--floor"])
    assert code == 1 and "(one weight network) differ by 1" in line


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


@pytest.mark.parametrize("cell", ["mlp_aux_shared", "cnn_aux_shared"])
def test_speed_s_float64_check_holds_under_another_rounding_and_catches_a_real_difference(cell):
    """Another CPU sums in another order: simulated by moving every torch-side weight by a few float64 ulps before
    the epoch. The float64 check still passes with room to spare; one weight moved by 1e-6 fails it."""
    from compare import speed

    ours, theirs, parameters = speed.pair_epochs(cell, torch.float64)
    torch.manual_seed(0)
    with torch.no_grad():
        for _, twin in parameters():
            twin.mul_(1 + 4 * torch.finfo(torch.float64).eps * torch.randn_like(twin))
    assert speed.agree((ours, theirs, parameters), 1e-9, cell) < 1e-12
    ours, theirs, parameters = speed.pair_epochs(cell, torch.float64)
    with torch.no_grad():
        parameters()[0][1].view(-1)[0] += 1e-6
    with pytest.raises(Failure, match="do not compute the same thing"):
        speed.agree((ours, theirs, parameters), 1e-9, cell)


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


def test_profile_fit_splits_one_fit_into_phases_that_add_up(workdir, command):
    out = ok(command(workdir, "-m", "scripts.profile_fit", "--config", "configs/tiny_base.yaml"))
    rows = {line.split(" | ")[0].strip("| "): float(line.split(" | ")[1]) for line in out.splitlines()[3:9]}
    assert list(rows) == [
        "data loading",
        "forward and loss",
        "backward",
        "optimizer",
        "epoch-end metrics",
        "Lightning's own loop",
    ]
    fit_seconds = float(out.splitlines()[0].split(" steps, ")[1].split(" s,")[0])
    assert abs(sum(rows.values()) - fit_seconds) < 0.01 and "above its compute floor" in out


def test_the_phases_of_a_fit_subtract_the_closure_from_the_optimizer_step():
    from scripts.profile_fit import phases

    durations = {
        "[Strategy]SingleDeviceStrategy.training_step": [1.0, 1.0],
        "[Strategy]SingleDeviceStrategy.backward": [2.0],
        "[LightningModule]Net.optimizer_step": [5.5],  # runs the closure: forward, loss and backward
        "[LightningModule]Net.optimizer_zero_grad": [0.25],
        "[_TrainingEpochLoop].train_dataloader_next": [0.5],
    }
    parts = phases(durations, "Net", 10.0)
    assert parts["forward and loss"] == 2.0 and parts["backward"] == 2.0 and parts["optimizer"] == 1.75
    assert parts["data loading"] == 0.5 and parts["Lightning's own loop"] == 3.75


SCRIPTS = sorted(
    [
        *(ROOT / "scripts").glob("[!_]*.py"),
        *(ROOT / "compare").glob("[!_]*.py"),
        *(ROOT / "framework" / "exercises").glob("[!_]*.py"),
        ROOT / "framework" / "test.py",
    ]
)
RUNNABLE = [p for p in SCRIPTS if 'if __name__ == "__main__":' in p.read_text()]


@pytest.mark.parametrize("how", ["path", "module"])
@pytest.mark.parametrize("script", RUNNABLE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_script_runs_by_path_and_as_a_module_from_the_root_without_pythonpath(script, how):
    """The project installs as a package (the README's first command), so no script needs PYTHONPATH or sys.path."""
    relative = script.relative_to(ROOT)
    form = [str(relative)] if how == "path" else ["-m", ".".join(relative.with_suffix("").parts)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, *form, "--help"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr[-2000:]
