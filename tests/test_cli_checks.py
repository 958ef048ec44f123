"""The command line in process: what it refuses, how it names a bad file, how the cosine schedule follows the
epochs, what --help shows first, what a failed run leaves behind, and how tensors leave the device."""

from argparse import ArgumentError
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader

import train
from common.errors import InputError
from pairs.classifier import PairClassifier
from pairs.cli import PairCLI, ParsedConfig

pytestmark = pytest.mark.filterwarnings("ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning")
FIXED = Path(__file__).resolve().parents[1] / "configs/fixed/cnn_aux_shared.yaml"
QUIET = ["--trainer.logger=false", "--trainer.enable_progress_bar=false"]
COSINE = "lr_scheduler:\n  class_path: torch.optim.lr_scheduler.CosineAnnealingLR\n  init_args:\n    T_max: 25\n"


def test_config_is_required():
    with pytest.raises(ValueError, match="--config is required"):
        train.main(["--trainer.max_epochs", "1"])


@pytest.mark.parametrize(
    ("arg", "refusal"),
    [
        ("--trainer.max_epochs=0", "max_epochs is 0"),
        ("--trainer.max_epochs=-1", "max_epochs is -1"),
        ("--model.aux_weight=inf", "model.aux_weight is inf"),
        ("--data.rotate=inf", "data.rotate is inf"),
        ("--optimizer.init_args.lr=0", "lr is 0.0: the learning rate must be > 0"),
        ("--optimizer.init_args.lr=-0.1", "lr is -0.1"),
        ("--model.channels=[]", "at least one conv layer"),
    ],
)
def test_numbers_no_run_can_use_are_refused(arg, refusal):
    with pytest.raises(ValueError, match=refusal):
        PairCLI(["--config", str(FIXED), arg, *QUIET])


@pytest.mark.parametrize("momentum", ["1.0", "-0.5"])
def test_a_momentum_outside_0_1_is_refused(momentum):
    sgd = ["--optimizer=SGD", "--optimizer.lr=0.1", f"--optimizer.momentum={momentum}"]
    with pytest.raises(ValueError, match=f"momentum is {float(momentum)}: it must be in"):
        PairCLI(["--config", str(FIXED), *sgd, *QUIET])


@pytest.mark.parametrize("arg", ["--model.hidden=[0]", "--model.channels=[32,0]", "--model.head_hidden=0"])
def test_zero_widths_are_refused(arg):
    with pytest.raises(ArgumentError, match="PositiveInt"):
        PairCLI(["--config", str(FIXED), arg, *QUIET])


@pytest.mark.parametrize(
    "arg",
    [
        "--model.aux_weight=-0.1",
        "--model.target_weight=-1",
        "--model.dropout=1",
        "--model.label_smoothing=-0.1",
        "--model.members=0",
        "--model.width=0",
        "--data.rotate=-1",
        "--data.shift=-1",
        "--data.shift=14",
    ],
)
def test_a_key_outside_its_own_range_is_one_error_line_naming_it(error_of, arg):
    """A key's own range is its type in the constructor's signature, checked once, at parse."""
    key, _, value = arg.removeprefix("--").partition("=")
    code, last = error_of(train.main, ["--config", str(FIXED), arg, *QUIET])
    assert code == 2 and last.startswith(f'error: Parser key "{key}": Not of type ')
    assert f": {value} does not conform to restriction" in last


def test_a_shift_may_leave_one_pixel_of_the_digit_in_view():
    assert ParsedConfig(["--config", str(FIXED), "--data.shift=13", *QUIET]).config.data.shift == 13


@pytest.mark.skipif(CUDAAccelerator.is_available() or MPSAccelerator.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_a_gpu_that_is_not_there_names_the_fix(accelerator):
    with pytest.raises(ValueError, match="--trainer.accelerator cpu, or auto"):
        PairCLI(["--config", str(FIXED), f"--trainer.accelerator={accelerator}", *QUIET])


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  trunk: cnn\n   aux_weight: [1\n")
    with pytest.raises(InputError) as info:
        PairCLI(["--config", str(bad), *QUIET])
    assert f"{bad}, line 3, column 14: not valid YAML" in str(info.value)
    assert "<unicode string>" not in str(info.value)


def t_max(tmp_path: Path, *args: str) -> int:
    """T_max of the cosine schedule built for the fixed recipe (25 epochs) plus a cosine schedule of T_max 25."""
    config = tmp_path / "cosine.yaml"
    config.write_text(FIXED.read_text() + COSINE)
    _, (scheduler,) = PairCLI(["--config", str(config), *args, *QUIET]).model.configure_optimizers()
    return scheduler.T_max


def test_the_cosine_schedule_follows_the_epochs(tmp_path):
    assert t_max(tmp_path) == 25
    assert t_max(tmp_path, "--trainer.max_epochs=3") == 3
    assert t_max(tmp_path, "--trainer.max_epochs=3", "--lr_scheduler.init_args.T_max=7") == 7


def test_help_shows_the_study_before_the_trainer(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    help_text = capsys.readouterr().out
    assert "digit-pairs study" in help_text.split("options:")[0]
    keys = ["--model.arch", "--data.n_pairs", "--optimizer", "--lr_scheduler", "--trainer.accelerator"]
    assert [help_text.index(f"\n  {key}") for key in keys] == sorted(help_text.index(f"\n  {key}") for key in keys)
    assert help_text[: help_text.index("\n  --model.arch")].count("\n") < 40


def logger_at(folder: Path) -> SimpleNamespace:
    return SimpleNamespace(log_dir=str(folder))


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_failed_run_leaves_no_folder_but_one_to_resume_from(tmp_path, capsys, checkpoint):
    version = tmp_path / "runs" / "config" / "version_0"
    resume = "python train.py fit --config c"
    with pytest.raises(KeyboardInterrupt), train.removed_if_failed(logger_at(version), resume):
        (version / "checkpoints").mkdir(parents=True)
        (version / "events.out.tfevents").touch()
        if checkpoint:
            (version / "checkpoints" / "epoch=0-step=1.ckpt").touch()
        raise KeyboardInterrupt
    assert version.exists() == checkpoint and (tmp_path / "runs").exists() == checkpoint
    hint = f"to resume: {resume} --ckpt_path {version / 'checkpoints' / 'epoch=0-step=1.ckpt'}"
    assert (hint in capsys.readouterr().err) == checkpoint


def test_a_failed_run_keeps_what_it_did_not_create(tmp_path):
    version = tmp_path / "runs" / "config" / "version_0"
    version.mkdir(parents=True)
    with pytest.raises(RuntimeError), train.removed_if_failed(logger_at(version)):
        raise RuntimeError("failed")
    assert version.exists()


class OffHostTensor(torch.Tensor):
    """Stands in for a CUDA tensor: no numpy view of it (matplotlib's imshow fails on it as it does on cuda:0)
    until .cpu() brings it to the host."""

    def __array__(self, *args, **kwargs):
        raise TypeError("can't convert an off-host tensor to numpy; call .cpu() first")

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert an off-host tensor to numpy; call .cpu() first")

    def cpu(self, *args, **kwargs) -> torch.Tensor:
        return self.as_subclass(torch.Tensor)


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_test_figures_and_hparams_take_their_tensors_off_the_device(tmp_path):
    g = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 10, (40, 2), generator=g)
    batch = (torch.randn(40, 2, 14, 14, generator=g), (classes[:, 0] <= classes[:, 1]).long(), classes)
    loader = DataLoader([tuple(t.as_subclass(OffHostTensor) for t in batch)], batch_size=None)
    logger = TensorBoardLogger(tmp_path, name="run", default_hp_metric=False)
    trainer = Trainer(accelerator="cpu", logger=logger, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(PairClassifier(), dataloaders=loader, verbose=False)
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert {"test/misclassified", "test/digit_confusion"} <= set(events.Tags()["images"])
    assert "hp/test_acc" in events.Tags()["scalars"]
