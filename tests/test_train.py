"""train.py end to end: summary, TensorBoard logs, and a one-line error for each kind of bad input."""

import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from pairs import figures
from pairs.data import generate_pair_sets
from tests import ROOT

pytestmark = pytest.mark.slow  # every test here runs train.py in a fresh process
TINY_RUN = [
    "--data.n_pairs=40",
    "--data.batch_size=20",
    "--trainer.max_epochs=2",
    "--trainer.enable_progress_bar=false",
]


def test_end_to_end_prints_summary_and_writes_tensorboard(tmp_path, mnist_dir, train):
    run = train(
        tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY_RUN
    )
    assert run.returncode == 0, run.stderr
    for line in ("config", "parameters", "test accuracy", "digit accuracy", "fit seconds"):
        assert line in run.stdout
    log_dir = tmp_path / "runs" / "cnn_aux_shared" / "version_0"
    assert list(log_dir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(log_dir))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/acc", "test/acc", "test/digit_acc", "hp/test_acc"} <= set(tags["scalars"])
    assert {"test/digit_confusion", "test/misclassified"} <= set(tags["images"])
    # as wide as an image on TensorBoard's IMAGES tab: shown at its actual size
    assert {events.Images(tag)[-1].width for tag in tags["images"]} == {figures.WIDTH}
    assert len(events.Scalars("train/loss")) == 2  # one point per epoch
    assert "hp_metric" not in tags["scalars"]
    hparams = (log_dir / "hparams.yaml").read_text()
    assert "aux_weight" in hparams and "n_pairs" in hparams


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "args, cause",
    [
        (["--model.bogus=1"], "bogus"),
        (["--model.weight_sharing=maybe"], "weight_sharing"),
        (["--model.aux_weight=-1"], "aux_weight"),
        (["--model.target_weight=0", "--model.aux_weight=0"], "target_weight"),
        (["--model.label_smoothing=1.5"], "label_smoothing"),
        (["--model.members=0"], "members"),
        (["--data.n_pairs=150"], "the train and the test set each need 300 distinct images"),
        (["--data.n_pairs=160"], "ask for at most 100 pairs"),
        (["--config=missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_ends_with_one_line_cause(tmp_path, mnist_dir, args, cause, train):
    run = train(
        tmp_path,
        "--config",
        str(ROOT / "configs/cnn_aux_shared.yaml"),
        f"--data.data_dir={mnist_dir}",
        *TINY_RUN,
        *args,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and cause in last
    assert not (tmp_path / "runs").exists()  # a failed run leaves no empty log folder


def test_without_config_one_line_says_it_is_required(tmp_path, train):
    run = train(tmp_path, "--trainer.max_epochs", "1")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: --config is required")


def test_unknown_key_in_config_file(tmp_path, mnist_dir, train):
    bad = write(tmp_path / "bad.yaml", "model:\n  trunk: cnn\n  depth: 3\n")
    run = train(tmp_path, "--config", str(bad), f"--data.data_dir={mnist_dir}", *TINY_RUN)
    assert run.returncode != 0 and "depth" in run.stderr.strip().splitlines()[-1]


def test_corrupt_idx_file(tmp_path, mnist_dir, train):
    labels = mnist_dir / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    run = train(
        tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY_RUN
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert str(labels) in run.stderr.strip().splitlines()[-1]


def test_missing_mnist_offline_names_folder_and_variable(tmp_path, train):
    unreachable = "http://127.0.0.1:9"  # downloads fail at once, even on a machine with internet
    env = {"MNIST_DIR": str(tmp_path / "none"), "http_proxy": unreachable, "https_proxy": unreachable, "no_proxy": ""}
    run = train(tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), *TINY_RUN, env=env)
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode != 0 and str(tmp_path / "none") in last and "MNIST_DIR" in last


REAL = Path(os.environ.get("MNIST_DIR", "data"))


@pytest.mark.skipif(not (REAL / "t10k-labels-idx1-ubyte.gz").exists(), reason="needs the real MNIST in $MNIST_DIR")
def test_real_mnist_baseline_convnet_reaches_at_most_25_percent_error(tmp_path, train):
    run = train(
        tmp_path,
        "--config",
        str(ROOT / "configs/baseline_cnn.yaml"),
        f"--data.data_dir={REAL.resolve()}",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
    )
    assert run.returncode == 0, run.stderr
    accuracy = float(next(line for line in run.stdout.splitlines() if line.startswith("test accuracy")).split()[-1])
    assert 1 - accuracy <= 0.25


FIXED = ROOT / "configs/fixed/cnn_aux_shared.yaml"
SMALL = ["--data.n_pairs=40", "--data.batch_size=20"]


def run_ok(train, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    run = train(cwd, *args)
    assert run.returncode == 0, run.stderr
    return run


def printed(run: subprocess.CompletedProcess, line: str) -> str:
    return next(row for row in run.stdout.splitlines() if row.startswith(line)).split()[-1]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, train, mnist_files) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Two epochs of the fixed cnn_aux_shared recipe on a synthetic MNIST, progress bar on: the folder it ran in,
    the MNIST folder, the run."""
    cwd, mnist = tmp_path_factory.mktemp("fit"), mnist_files.write(tmp_path_factory.mktemp("data") / "mnist")
    return (
        cwd,
        mnist,
        run_ok(train, cwd, "--config", str(FIXED), f"--data.data_dir={mnist}", *SMALL, "--trainer.max_epochs=2"),
    )


def test_the_console_shows_the_run_not_noise(fitted):
    output = fitted[2].stdout + fitted[2].stderr
    for noise in ("💡", "LeafSpec", "Total length of", "Sanity Checking", "Warning"):
        assert noise not in output
    assert "train/loss=" in output and "train/acc=" in output  # the progress bar: the last finished epoch
    assert "GPU available" in output and "Trainable params" in output  # Lightning's own lines stay


def hparams_plugin_data(log_dir: Path) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    """The HParams summaries in `log_dir`, by tag."""
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: plugin_data_pb2.HParamsPluginData.FromString(content)
        for tag, content in events.PluginTagToContent("hparams").items()
    }


def session_start(log_dir: Path) -> plugin_data_pb2.SessionStartInfo:
    """The start of the TensorBoard HParams session in `log_dir`: its hyper-parameters and its name."""
    for data in hparams_plugin_data(log_dir).values():
        if data.HasField("session_start_info"):
            return data.session_start_info
    raise AssertionError(f"no HParams session in {log_dir}")


def session_hparams(log_dir: Path) -> dict:
    """The hyper-parameters of the TensorBoard HParams session in `log_dir`."""
    return dict(session_start(log_dir).hparams)


def test_hparams_hold_the_effective_seed_and_the_optimisation(fitted):
    log_dir = fitted[0] / "runs" / "cnn_aux_shared" / "version_0"
    hparams = yaml.safe_load((log_dir / "hparams.yaml").read_text())
    assert hparams["seed_everything"] == 0 and hparams["seed"] == 0
    assert hparams["optimizer"]["class"] == "Adam" and hparams["optimizer"]["lr"] == 0.001
    assert hparams["max_epochs"] == 2 and hparams["batch_size"] == 20 and hparams["aux_weight"] == 1.0
    assert not [key for key in hparams if key.startswith("_")]
    session = session_hparams(log_dir)
    assert session["seed"].number_value == 0 and session["optimizer/class"].string_value == "Adam"
    assert {"seed_everything", "optimizer/lr", "max_epochs", "batch_size", "params"} <= set(session)


@pytest.mark.parametrize(
    "config, unused",
    [
        ("mlp_aux_shared", {"channels"}),  # the mlp trunk has no conv layers
        ("baseline_cnn", {"trunk", "weight_sharing", "channels", "hidden", "head_hidden", "prediction", "aux_weight"}),
    ],
)
def test_an_hparams_row_is_named_after_the_run_and_holds_only_the_keys_its_model_uses(
    tmp_path, mnist_dir, train, config, unused
):
    run_ok(
        train,
        tmp_path,
        *("--config", str(ROOT / "configs/fixed" / f"{config}.yaml"), f"--data.data_dir={mnist_dir}", *SMALL),
        *("--trainer.max_epochs=1", "--trainer.enable_progress_bar=false"),
    )
    log_dir = tmp_path / "runs" / config / "version_0"
    start = session_start(log_dir)
    assert start.group_name == f"{config}/version_0"  # the row's name, whichever folder TensorBoard reads
    assert not unused & set(start.hparams) and {"arch", "batch_norm", "dropout", "members"} <= set(start.hparams)
    # no experiment summary: TensorBoard would take one run's keys and metrics as every run's columns
    assert "_hparams_/experiment" not in hparams_plugin_data(log_dir)
    assert unused <= set(yaml.safe_load((log_dir / "hparams.yaml").read_text()))  # the record keeps every key


def test_a_checkpoint_resumes_tests_and_predicts(fitted, tmp_path, train):
    cwd, mnist, _ = fitted
    data = [f"--data.data_dir={mnist}", *SMALL, "--trainer.enable_progress_bar=false"]
    first = next((cwd / "runs" / "cnn_aux_shared" / "version_0" / "checkpoints").glob("*.ckpt"))
    resumed = run_ok(
        train, tmp_path, "fit", "--config", str(FIXED), *data, "--trainer.max_epochs=3", f"--ckpt_path={first}"
    )
    assert "Restoring states from the checkpoint" in resumed.stderr
    resumed_dir = tmp_path / "runs" / "cnn_aux_shared" / "version_0"
    events = EventAccumulator(str(resumed_dir))
    events.Reload()
    assert len(events.Scalars("train/loss")) == 1  # the third epoch only: the first two were restored
    last = next((resumed_dir / "checkpoints").glob("epoch=2-*.ckpt"))

    tested = run_ok(train, tmp_path, "test", "--config", str(FIXED), *data, f"--ckpt_path={last}")
    assert printed(tested, "test accuracy") == printed(resumed, "test accuracy")
    assert printed(tested, "digit accuracy") == printed(resumed, "digit accuracy")

    test_input, test_target = generate_pair_sets(40, torch.Generator().manual_seed(0), mnist)[3:5]
    torch.save(test_input, tmp_path / "pairs.pt")
    run_ok(
        train, tmp_path, "predict", "--config", str(FIXED), f"--ckpt_path={last}", "--pairs=pairs.pt", "--output=out.pt"
    )
    predicted = torch.load(tmp_path / "out.pt")
    assert predicted["target"].shape == (40,) and predicted["classes"].shape == (40, 2)
    assert ((0 <= predicted["p_target"]) & (predicted["p_target"] <= 1)).all()
    accuracy = (predicted["target"] == test_target).float().mean().item()
    assert f"{accuracy:.4f}" == printed(tested, "test accuracy")  # raw pairs, standardised as in training


def test_a_run_without_a_logger_writes_nothing_and_runs_twice(tmp_path, mnist_dir, train):
    args = ["--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY_RUN]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for _ in range(2):
        run = train(cwd, *args, "--trainer.logger=false")
        assert run.returncode == 0, run.stderr
    assert list(cwd.iterdir()) == []  # nothing written outside the folders a run names
