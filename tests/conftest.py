"""Shared fixtures: tiny synthetic MNIST IDX files written by the tests themselves, tiny study configs and the
folders that hold them, and the entry points run as a user runs them."""

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from common.errors import run_main
from common.mnist import IMAGE_MAGIC, LABEL_MAGIC
from tests import ROOT

TINY_CONFIG = """seed_everything: 0
model:
  arch: {arch}
  trunk: cnn
  channels: [4, 8]
  hidden: [16]
data:
  n_pairs: 60
  batch_size: 30
  shift: {shift}
  swap: {swap}
  fresh_pairs: {swap}
trainer:
  max_epochs: 1
  accelerator: cpu
optimizer:
  class_path: torch.optim.Adam
  init_args:
    lr: 0.01
"""


def idx_bytes(tensor: torch.Tensor, magic: int) -> bytes:
    """The IDX encoding of a uint8 tensor."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in tensor.shape)
    return header + tensor.to(torch.uint8).numpy().tobytes()


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n 28x28 uint8 images whose class k lights a 6x6 block at a k-dependent place, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 40, (n, 28, 28), generator=g)
    for k in range(10):
        r, c = 2 + (k // 5) * 12, 2 + (k % 5) * 5
        images[labels == k, r : r + 6, c : c + 6] = 255
    return images.to(torch.uint8), labels


def write_mnist(root: Path, n_train: int = 300, n_test: int = 200, gz: bool = True) -> Path:
    """Write the four IDX files of a synthetic MNIST into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        for kind, tensor, magic in (("images-idx3", images, IMAGE_MAGIC), ("labels-idx1", labels, LABEL_MAGIC)):
            data = idx_bytes(tensor, magic)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


@pytest.fixture(scope="session")
def entry_points() -> set[str]:
    """Every entry point of the repository, as a module name: each file that runs its main through run_main."""
    skipped = {".venv", "tests", "pairs", "common"}  # the library packages: no entry point of their own
    sources = [p for p in ROOT.rglob("*.py") if not skipped & set(p.relative_to(ROOT).parts)]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in sources if "run_main(main" in p.read_text()}


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A folder with a synthetic MNIST: 300 train and 200 test images."""
    return write_mnist(tmp_path / "mnist")


@pytest.fixture(scope="session")
def mnist_files() -> SimpleNamespace:
    """The synthetic MNIST's helpers: `idx_bytes`, `synthetic_digits`, `write` (the four files into a folder)."""
    return SimpleNamespace(idx_bytes=idx_bytes, synthetic_digits=synthetic_digits, write=write_mnist)


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., str]:
    """A tiny study config's YAML: `tiny_config(arch, shift=0, swap=False)`, one epoch on 60 pairs."""
    return lambda arch, shift=0, swap=False: TINY_CONFIG.format(arch=arch, shift=shift, swap=str(swap).lower())


@pytest.fixture
def workdir(tmp_path, mnist_dir, tiny_config, monkeypatch) -> Path:
    """The current folder: configs/tiny_pair.yaml (augmented) and configs/tiny_base.yaml; MNIST_DIR a synthetic
    MNIST."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny_pair.yaml").write_text(tiny_config("pairnet", 1, True))
    (tmp_path / "configs" / "tiny_base.yaml").write_text(tiny_config("baseline_cnn"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    return tmp_path


def run_command(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python ARGS` in `cwd`, the repository importable, as a user runs an entry point."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=environment
    )


@pytest.fixture(scope="session")
def command() -> Callable[..., subprocess.CompletedProcess]:
    """`command(cwd, *args, env=None)`: `python ARGS` in `cwd`, finished."""
    return run_command


@pytest.fixture(scope="session")
def train() -> Callable[..., subprocess.CompletedProcess]:
    """`train(cwd, *args, env=None)`: `python train.py ARGS` in `cwd`, finished."""
    return lambda cwd, *args, env=None: run_command(cwd, str(ROOT / "train.py"), *args, env=env)


@pytest.fixture
def error_of(capsys) -> Callable[..., tuple[int, str]]:
    """`error_of(main, argv)`: run an entry point's main through the one error path as `__main__` does; its exit
    code and last stderr line."""

    def run(main: Callable[[list[str]], object], argv: list[str]) -> tuple[int, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            run_main(lambda: main(argv))
        lines = capsys.readouterr().err.strip().splitlines()
        return info.value.code, lines[-1] if lines else ""

    return run


@pytest.fixture(
    params=[
        (KeyboardInterrupt(), (SystemExit, "rerun the same command to resume")),
        (OSError(28, "No space left on device"), (OSError, "No space left")),
    ],
    ids=["ctrl-c", "disk full"],
)
def mid_run_failure(request) -> tuple[BaseException, tuple[type[BaseException], str]]:
    """A failure to inject mid-run, and what the run then raises: Ctrl-C (the entry point exits, saying how to
    resume) and a full disk (an expected failure: run_main makes it one error line)."""
    return request.param
