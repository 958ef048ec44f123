"""train.py end to end: summary, TensorBoard logs, and a one-line error for each kind of bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data.n_pairs=40", "--data.batch_size=20", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false"]


def train(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )


def test_end_to_end_prints_summary_and_writes_tensorboard(tmp_path, mnist_dir):
    run = train(tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY)
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
        (["--data.n_pairs=150"], "150 pairs need 300 distinct images"),
        (["--config=missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_ends_with_one_line_cause(tmp_path, mnist_dir, args, cause):
    run = train(tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY, *args)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and cause in last


def test_unknown_key_in_config_file(tmp_path, mnist_dir):
    bad = write(tmp_path / "bad.yaml", "model:\n  trunk: cnn\n  depth: 3\n")
    run = train(tmp_path, "--config", str(bad), f"--data.data_dir={mnist_dir}", *TINY)
    assert run.returncode != 0 and "depth" in run.stderr.strip().splitlines()[-1]


def test_corrupt_idx_file(tmp_path, mnist_dir):
    labels = mnist_dir / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    run = train(tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), f"--data.data_dir={mnist_dir}", *TINY)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert str(labels) in run.stderr.strip().splitlines()[-1]


def test_missing_mnist_offline_names_folder_and_variable(tmp_path):
    unreachable = "http://127.0.0.1:9"  # downloads fail at once, even on a machine with internet
    env = {"MNIST_DIR": str(tmp_path / "none"), "http_proxy": unreachable, "https_proxy": unreachable, "no_proxy": ""}
    run = train(tmp_path, "--config", str(ROOT / "configs/cnn_aux_shared.yaml"), *TINY, env=env)
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode != 0 and str(tmp_path / "none") in last and "MNIST_DIR" in last


REAL = Path(os.environ.get("MNIST_DIR", "data"))


@pytest.mark.skipif(not (REAL / "t10k-labels-idx1-ubyte.gz").exists(), reason="needs the real MNIST in $MNIST_DIR")
def test_real_mnist_baseline_convnet_reaches_at_most_25_percent_error(tmp_path):
    run = train(tmp_path, "--config", str(ROOT / "configs/baseline_cnn.yaml"), f"--data.data_dir={REAL.resolve()}",
                "--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.enable_checkpointing=false")
    assert run.returncode == 0, run.stderr
    accuracy = float(next(line for line in run.stdout.splitlines() if line.startswith("test accuracy")).split()[-1])
    assert 1 - accuracy <= 0.25
