"""Shared fixtures: tiny synthetic MNIST IDX files written by the tests themselves."""

import gzip
from pathlib import Path

import pytest
import torch

from pairs.mnist import IMAGE_MAGIC, LABEL_MAGIC


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


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A folder with a synthetic MNIST: 300 train and 200 test images."""
    return write_mnist(tmp_path / "mnist")
