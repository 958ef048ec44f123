"""Digit pairs: the reference pair generator and the Lightning DataModule that serves it."""

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch
from jsonargparse.typing import NonNegativeFloat, PositiveInt, restricted_number_type
from lightning.pytorch import LightningDataModule
from torch.nn import functional as F
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler, TensorDataset

from common import mnist, options
from common.errors import InputError
from pairs import augment

DIGIT_SIZE = 14  # pixels per side of a pooled digit
SHIPPED: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # split -> (images, labels), set by `shipped`
Seed = restricted_number_type("Seed", int, [(">=", options.SEEDS.low), ("<=", options.SEEDS.high)])  # 32 bits
Shift = restricted_number_type("Shift", int, [(">=", 0), ("<", DIGIT_SIZE)])  # pixels: part of the digit stays in view


@lru_cache(maxsize=4)
def read_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One MNIST split read from `root`, once per process: the fits of one worker share it."""
    return mnist.read_split(root, split, allow_download=True)


def load_split(split: str, data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 28, 28] and labels int64 [N] of MNIST's 'train' or 'test' split: those `shipped` holds,
    else read from `data_dir` ($MNIST_DIR, else ./data), downloaded if missing."""
    if split in SHIPPED:
        return SHIPPED[split]
    return read_split(mnist.resolve_dir(data_dir).resolve(), split)


@contextmanager
def shipped(data: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
    """Inside the block, the pairs are drawn from these already verified splits instead of files (a Ray task gets
    them from the driver: the nodes of a cluster need no copy of MNIST)."""
    SHIPPED.update(data)
    try:
        yield
    finally:
        SHIPPED.clear()


def target(classes: torch.Tensor) -> torch.Tensor:
    """The comparison target of pairs of classes [B, 2]: 1 where the first <= the second (ties count as 1)."""
    return (classes[:, 0] <= classes[:, 1]).long()


def mnist_to_pairs(
    n: int, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n pairs of 2n distinct images: input [n,2,14,14] float 0..255, target [n] = (c0 <= c1), classes [n,2]."""
    if 2 * n > len(images):
        raise InputError(
            f"{n} pairs need {2 * n} distinct images but the split holds only {len(images)}; "
            f"ask for at most {len(images) // 2} pairs"
        )
    index = torch.randperm(len(images), generator=generator)[: 2 * n].view(n, 2)
    pooled = F.avg_pool2d(images[index.flatten()].float().unsqueeze(1), kernel_size=2)
    inputs = pooled.view(n, 2, DIGIT_SIZE, DIGIT_SIZE)
    classes = labels[index]
    return inputs, target(classes), classes


def generate_pair_sets(
    n: int, generator: torch.Generator, data_dir: str | os.PathLike | None = None
) -> tuple[torch.Tensor, ...]:
    """train_input, train_target, train_classes, test_input, test_target, test_classes, as the reference does."""
    splits = {split: load_split(split, data_dir) for split in mnist.SPLITS}
    most = min(len(images) for images, _ in splits.values()) // 2
    if n > most:
        sizes = " and ".join(f"the {s} split {len(images)}" for s, (images, _) in splits.items())
        raise InputError(
            f"data.n_pairs={n}: the train and the test set each need {2 * n} distinct images, "
            f"but MNIST holds {sizes}; ask for at most {most} pairs"
        )
    return mnist_to_pairs(n, *splits["train"], generator) + mnist_to_pairs(n, *splits["test"], generator)


class EpochBatches(torch.utils.data.Sampler):
    """A sampler that asks `make` for the epoch's `length` batches at the start of every epoch."""

    def __init__(self, make, length: int):
        self.make, self.length = make, length

    def __iter__(self):
        return iter(self.make())

    def __len__(self) -> int:
        return self.length


class TrainingPairs(torch.utils.data.Dataset):
    """Training pairs built per batch from the raw training digits: optionally shifted, rotated and swapped, then
    standardised. Indexed by a batch of digit-index pairs [B, 2] (fresh pairs or the original ones)."""

    def __init__(
        self,
        inputs: torch.Tensor,
        classes: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        shift: int,
        rotate: float,
        swap: bool,
    ):
        self.digits, self.classes = inputs.reshape(-1, DIGIT_SIZE, DIGIT_SIZE), classes.reshape(-1)
        self.mean, self.std, self.shift, self.rotate, self.swap = mean, std, shift, rotate, swap

    def __len__(self) -> int:
        return len(self.digits) // 2

    def __getitem__(self, pairs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, classes = self.digits[pairs], self.classes[pairs]
        if self.shift or self.rotate:
            x = augment.affine(x.view(-1, DIGIT_SIZE, DIGIT_SIZE), self.shift, self.rotate).view(x.shape)
        if self.swap:
            x, classes = augment.swap(x, classes)
        return (x - self.mean) / self.std, target(classes), classes


def round_seed(explicit: int | None) -> int:
    """A source's seed: `explicit`, else the round's (`seed_everything`, the global generator's initial seed)."""
    return torch.initial_seed() if explicit is None else explicit


def check_split(n_pairs: int, val_pairs: int) -> None:
    """Refuse validation pairs that leave no training pair."""
    if not 0 <= val_pairs < n_pairs:
        raise InputError(f"data.val_pairs must be in [0, n_pairs={n_pairs}), got {val_pairs}")


class PairDataModule(LightningDataModule):
    """Train / optional validation / test pairs, standardised with the training pairs' mean and std.

    Augmentations touch the training pairs only, drawn afresh every epoch from the round's seed.

    Args:
        n_pairs: pairs in the training and in the test set (the reference uses 1000).
        batch_size: pairs per batch.
        data_dir: folder with the MNIST IDX files; default $MNIST_DIR, then ./data.
        val_pairs: training pairs held out for validation (0 = no validation loop).
        seed: seed of the data draw; default the round's seed (`seed_everything`).
        shift: random integer shift of each training digit, up to this many pixels along each axis (below the digit's
            14 px, so part of it stays in view).
        rotate: random rotation of each training digit, up to this many degrees either way.
        swap: exchange the two digits of a random half of the training pairs (target recomputed; ties stay 1).
        fresh_pairs: pair the training digits afresh every epoch (target recomputed from the classes).
        order_seed: the seed of the training batch order (and of the fresh pairing); default the round's seed.

    Each source draws from its own generator, so a run with `seed_everything: s` and neither seed set is exactly the
    run with `seed_everything`, `seed` and `order_seed` all at s (`benchmark.py --vary` nests the study).

    A key's own range is its type in the signature, checked when the CLI parses a config; the constructor checks
    only how keys combine.
    """

    train_set: TrainingPairs | None  # None until setup()
    val_set: TensorDataset | None  # also None without validation pairs
    test_set: TensorDataset | None

    def __init__(
        self,
        n_pairs: PositiveInt = 1000,
        batch_size: PositiveInt = 100,
        data_dir: str | None = None,
        val_pairs: int = 0,
        seed: Seed | None = None,  # type: ignore[valid-type]  # a class jsonargparse makes at run time
        shift: Shift = 0,  # type: ignore[valid-type]  # a class jsonargparse makes at run time
        rotate: NonNegativeFloat = 0.0,
        swap: bool = False,
        fresh_pairs: bool = False,
        order_seed: Seed | None = None,  # type: ignore[valid-type]  # a class jsonargparse makes at run time
    ):
        super().__init__()
        check_split(n_pairs, val_pairs)
        self.save_hyperparameters()
        self.train_set = self.val_set = self.test_set = None

    def prepare_data(self) -> None:
        for split in mnist.SPLITS:
            load_split(split, self.hparams.data_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(round_seed(self.hparams.seed))
        self.order = torch.Generator().manual_seed(round_seed(self.hparams.order_seed))  # one stream for the fit
        tensors = generate_pair_sets(self.hparams.n_pairs, generator, self.hparams.data_dir)
        train, test = tensors[:3], tensors[3:]
        n_fit = self.hparams.n_pairs - self.hparams.val_pairs
        fit = tuple(t[:n_fit] for t in train)
        self.mean, self.std = fit[0].mean(), fit[0].std()
        h = self.hparams
        self.train_set = TrainingPairs(fit[0], fit[2], self.mean, self.std, h.shift, h.rotate, h.swap)
        self.val_set = self.standardise(*(t[n_fit:] for t in train)) if self.hparams.val_pairs else None
        self.test_set = self.standardise(*test)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The batch-order generator's state, saved in checkpoints: a continued fit draws the uninterrupted order."""
        return {"order": self.order.get_state()} if hasattr(self, "order") else {}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        if "order" in state_dict:
            self.setup()
            self.order.set_state(state_dict["order"])

    def standardise(self, inputs: torch.Tensor, target: torch.Tensor, classes: torch.Tensor) -> TensorDataset:
        return TensorDataset((inputs - self.mean) / self.std, target, classes)

    def loader(self, dataset: TensorDataset) -> DataLoader:
        """The pairs in order, a whole batch of indices per fetch (no per-item fetching)."""
        sampler = BatchSampler(SequentialSampler(dataset), self.hparams.batch_size, drop_last=False)
        return DataLoader(dataset, sampler=sampler, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None  # Lightning calls setup() first
        n, size, fresh = len(self.train_set), self.hparams.batch_size, self.hparams.fresh_pairs
        sampler = EpochBatches(lambda: augment.pair_batches(n, size, fresh, self.order), math.ceil(n / size))
        return DataLoader(self.train_set, sampler=sampler, batch_size=None)

    def val_dataloader(self) -> DataLoader | list:
        return self.loader(self.val_set) if self.val_set is not None else []

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None  # Lightning calls setup() first
        return self.loader(self.test_set)
