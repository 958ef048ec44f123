"""Pair semantics of the reference generator, the DataModule's standardisation and its batch order."""

import pytest
import torch
from lightning.pytorch import Callback
from torch.nn import functional as F

from common.mnist import load_mnist
from pairs import runs
from pairs.cli import PairCLI
from pairs.data import PairDataModule, generate_pair_sets, mnist_to_pairs


def pairs(mnist_dir, n=50, seed=0):
    return generate_pair_sets(n, torch.Generator().manual_seed(seed), mnist_dir)


def test_shapes_and_dtypes(mnist_dir):
    tensors = pairs(mnist_dir)
    for inputs, target, classes in (tensors[:3], tensors[3:]):
        assert inputs.shape == (50, 2, 14, 14) and inputs.dtype == torch.float32
        assert target.shape == (50,) and target.dtype == torch.int64
        assert classes.shape == (50, 2) and classes.dtype == torch.int64


def test_pixels_are_avg_pooled_raw_values(mnist_dir):
    inputs = pairs(mnist_dir)[0]
    assert 0 <= inputs.min() and inputs.max() <= 255 and inputs.max() > 1  # not standardised yet
    images, _ = load_mnist("train", mnist_dir)
    pooled = F.avg_pool2d(images.float().unsqueeze(1), 2).squeeze(1)
    matches = (pooled.flatten(1) == inputs[:, 0].flatten(1)[:, None]).all(-1).any(-1)
    assert matches.all()  # every first digit is one pooled training image


def test_images_are_distinct_and_test_pairs_come_from_the_test_split(mnist_dir):
    images, labels = load_mnist("train", mnist_dir)
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(3))[:200]
    # a split whose images are all different lets us find each pooled input's source index
    pooled = F.avg_pool2d(images.float().unsqueeze(1), 2).flatten(1)
    assert len(torch.unique(pooled, dim=0)) == len(images)
    inputs, _, classes = mnist_to_pairs(100, images, labels, torch.Generator().manual_seed(3))
    sources = (inputs.view(200, -1)[:, None] == pooled[None]).all(-1).float().argmax(1)
    assert torch.equal(sources, index) and len(sources.unique()) == 200
    test_images, _ = load_mnist("test", mnist_dir)
    test_pooled = F.avg_pool2d(test_images.float().unsqueeze(1), 2).flatten(1)
    test_inputs = pairs(mnist_dir)[3].view(100, -1)
    assert (test_inputs[:, None] == test_pooled[None]).all(-1).any(-1).all()


def test_target_is_less_or_equal_with_ties_as_one(mnist_dir):
    _, target, classes = pairs(mnist_dir, n=100)[:3]
    assert torch.equal(target, (classes[:, 0] <= classes[:, 1]).long())
    ties = classes[:, 0] == classes[:, 1]
    assert ties.any() and (target[ties] == 1).all()


def test_same_seed_same_draw_other_seed_other_draw(mnist_dir):
    a, b, c = pairs(mnist_dir, seed=7), pairs(mnist_dir, seed=7), pairs(mnist_dir, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_too_many_pairs_is_a_clear_error(mnist_dir):
    with pytest.raises(ValueError, match="151 pairs need 302 distinct images but the split holds only 300"):
        mnist_to_pairs(151, *load_mnist("train", mnist_dir), torch.Generator())
    with pytest.raises(
        ValueError,
        match="each need 202 distinct images, but MNIST holds the train split 300 and "
        "the test split 200; ask for at most 100 pairs",
    ):
        pairs(mnist_dir, n=101)


def datamodule(mnist_dir, **kwargs):
    dm = PairDataModule(**{"n_pairs": 80, "batch_size": 32, "data_dir": str(mnist_dir), "seed": 0, **kwargs})
    dm.setup("fit")
    return dm


def test_standardised_with_training_statistics_only(mnist_dir):
    dm = datamodule(mnist_dir, val_pairs=20)
    train_x = dm.train_set[torch.arange(120).view(60, 2)][0]
    assert len(dm.train_set) == 60 and len(dm.val_set) == 20 and len(dm.test_set) == 80
    assert abs(float(train_x.mean())) < 1e-5 and abs(float(train_x.std()) - 1) < 1e-5
    raw = pairs(mnist_dir, n=80)
    assert torch.allclose(dm.test_set.tensors[0], (raw[3] - raw[0][:60].mean()) / raw[0][:60].std())
    assert torch.allclose(dm.val_set.tensors[0], (raw[0][60:] - raw[0][:60].mean()) / raw[0][:60].std())


def test_loaders_serve_whole_batches(mnist_dir):
    dm = datamodule(mnist_dir)
    sizes = [len(batch[0]) for batch in dm.train_dataloader()]
    assert sizes == [32, 32, 16]
    assert dm.val_dataloader() == []
    first = torch.cat([b[0] for b in dm.test_dataloader()])
    assert torch.equal(first, dm.test_set.tensors[0])  # the test set in order


def test_seed_defaults_to_the_round_seed(mnist_dir):
    torch.manual_seed(5)
    implicit = datamodule(mnist_dir, seed=None)
    explicit = datamodule(mnist_dir, seed=5)
    assert torch.equal(implicit.train_set.digits, explicit.train_set.digits)


def test_validation_pairs_must_leave_training_pairs(mnist_dir):
    with pytest.raises(ValueError, match="val_pairs"):
        PairDataModule(n_pairs=10, val_pairs=10)


def epochs(dm: PairDataModule, n: int = 2) -> list[torch.Tensor]:
    """The digit-index pairs of `n` epochs of a fresh training loader, in order."""
    sampler = dm.train_dataloader().sampler
    return [torch.cat(list(sampler)) for _ in range(n)]


def rows(pairs: torch.Tensor) -> list[tuple[int, ...]]:
    return sorted(map(tuple, pairs.tolist()))


def test_the_batch_order_has_its_own_generator_seeded_by_the_round_unless_set(mnist_dir):
    torch.manual_seed(5)
    plain = datamodule(mnist_dir)  # the round's seed, 5, seeds its order when it is set up
    torch.rand(7)  # the global RNG consumed, as weight initialisation does: the order does not depend on it
    round_order = epochs(plain)
    assert all(map(torch.equal, round_order, epochs(datamodule(mnist_dir, order_seed=5))))
    ordered = datamodule(mnist_dir, order_seed=3)
    state = torch.get_rng_state()
    own_order = epochs(ordered)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG untouched
    torch.manual_seed(6)
    assert all(map(torch.equal, epochs(datamodule(mnist_dir, order_seed=3)), own_order))  # whatever the round's seed
    assert not torch.equal(epochs(ordered, 1)[0], own_order[0])  # one stream per fit: a new loader continues it
    assert not torch.equal(own_order[0], own_order[1]) and not torch.equal(own_order[0], round_order[0])
    assert rows(own_order[0]) == rows(round_order[0])  # the same pairs, in another order
    assert torch.equal(ordered.train_set.digits, plain.train_set.digits)
    assert torch.equal(ordered.test_set.tensors[0], plain.test_set.tensors[0])


class TrainingBatches(Callback):
    """Keeps the digit classes of every training batch of a fit."""

    def __init__(self):
        self.classes: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.classes.append(batch[2])


def fit_batches(config, *args: str) -> list[torch.Tensor]:
    """The digit classes of each epoch's training batches in a two-epoch fit of `config` with seed 0."""
    recorder = TrainingBatches()
    with runs.quiet():
        cli = PairCLI(
            ["--config", str(config), *runs.QUIET, "--trainer.max_epochs=2", "--seed_everything=0", *args],
            save_config_callback=None,
        )
        cli.trainer.callbacks.append(recorder)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    per_epoch = len(recorder.classes) // 2
    return [torch.cat(recorder.classes[:per_epoch]), torch.cat(recorder.classes[per_epoch:])]


def test_a_fit_s_batch_order_is_its_round_seed_s_and_order_seed_changes_only_the_order(
    tmp_path, mnist_dir, tiny_config, monkeypatch
):
    monkeypatch.setenv("MNIST_DIR", str(mnist_dir))
    augmented, plain = tmp_path / "augmented.yaml", tmp_path / "plain.yaml"
    augmented.write_text(tiny_config("pairnet", 1, True))  # shifts, swaps, fresh pairs: global draws between batches
    plain.write_text(tiny_config("pairnet"))
    for config in (augmented, plain):
        assert all(map(torch.equal, fit_batches(config), fit_batches(config, "--data.order_seed=0")))  # round seed 0
    before, after = fit_batches(plain), fit_batches(plain, "--data.order_seed=1")
    for epoch_before, epoch_after in zip(before, after):
        assert rows(epoch_before) == rows(epoch_after) and not torch.equal(epoch_before, epoch_after)
