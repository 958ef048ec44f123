"""Augmentations: shapes, ties after a swap, fresh pairs keep the target rule, shifts keep the pixel mass,
and none of them ever touches the validation or test pairs."""

import torch

from pairs import augment, data
from pairs.data import PairDataModule


def digits_with_empty_border(n=50, border=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 14, 14)
    x[:, border:-border, border:-border] = 255 * torch.rand(n, 14 - 2 * border, 14 - 2 * border, generator=g)
    return x


def test_shapes():
    torch.manual_seed(0)
    assert augment.affine(torch.rand(7, 14, 14), shift=2, rotate=12).shape == (7, 14, 14)
    x, classes = augment.swap(torch.rand(5, 2, 14, 14), torch.randint(0, 10, (5, 2)))
    assert x.shape == (5, 2, 14, 14) and classes.shape == (5, 2)
    batches = augment.pair_batches(10, 4, fresh_pairs=True, generator=torch.Generator())
    assert [b.shape for b in batches] == [(4, 2), (4, 2), (2, 2)]


def test_shifting_preserves_the_pixel_mass_within_the_border():
    torch.manual_seed(0)
    x = digits_with_empty_border(border=2)
    shifted = augment.affine(x, shift=2)
    assert torch.allclose(shifted.sum((1, 2)), x.sum((1, 2)), rtol=1e-5)
    # and each result is an exact integer translation of its digit
    for original, moved in zip(x, shifted):
        candidates = [torch.roll(original, (dy, dx), (0, 1)) for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(torch.allclose(moved, c, atol=1e-3) for c in candidates)
    assert not torch.equal(shifted, x)


def test_rotation_moves_pixels_but_keeps_the_digit_centred():
    torch.manual_seed(0)
    x = digits_with_empty_border(border=3)
    rotated = augment.affine(x, rotate=12)
    assert not torch.allclose(rotated, x)
    assert torch.allclose(rotated.sum((1, 2)), x.sum((1, 2)), rtol=0.05)  # bilinear sampling: mass about kept


def test_no_augmentation_is_the_identity():
    x = digits_with_empty_border()
    assert torch.allclose(augment.affine(x), x, atol=1e-3)  # pixels 0..255; float rounding only


def test_swap_exchanges_digits_with_their_classes_and_ties_stay_one():
    torch.manual_seed(0)
    x = torch.arange(200 * 2 * 4, dtype=torch.float32).view(200, 2, 2, 2)
    classes = torch.randint(0, 10, (200, 2))
    classes[:50, 1] = classes[:50, 0]  # ties
    swapped_x, swapped_classes = augment.swap(x, classes)
    flipped = (swapped_x[:, 0] != x[:, 0]).flatten(1).any(1)
    assert 50 < int(flipped.sum()) < 150
    assert torch.equal(swapped_x[flipped], x[flipped].flip(1)) and torch.equal(
        swapped_classes[flipped], classes[flipped].flip(1)
    )
    target = data.target(swapped_classes)
    assert (target[:50] == 1).all()
    assert torch.equal(target, (swapped_classes[:, 0] <= swapped_classes[:, 1]).long())


def datamodule(mnist_dir, **augmentations):
    dm = PairDataModule(n_pairs=60, batch_size=25, data_dir=str(mnist_dir), val_pairs=10, seed=0, **augmentations)
    dm.setup("fit")
    return dm


def test_fresh_pairs_are_drawn_every_epoch_and_keep_the_target_rule(mnist_dir):
    dm = datamodule(mnist_dir, fresh_pairs=True, swap=True)
    torch.manual_seed(0)
    epochs = [list(dm.train_dataloader()) for _ in range(2)]
    for batches in epochs:
        for _, target, classes in batches:
            assert torch.equal(target, (classes[:, 0] <= classes[:, 1]).long())
        all_x = torch.cat([x for x, _, _ in batches]).view(-1, 14, 14)
        assert len(all_x) == 100 and len(torch.unique(all_x, dim=0)) == 100  # every training digit once per epoch
    first, second = (torch.cat([c for _, _, c in b]) for b in epochs)
    assert not torch.equal(first, second)


def test_classes_follow_their_digits_through_every_augmentation(mnist_dir):
    plain, augmented = datamodule(mnist_dir), datamodule(mnist_dir, fresh_pairs=True, swap=True)
    class_of = {tuple(d.flatten().tolist()): int(c) for d, c in zip(plain.train_set.digits, plain.train_set.classes)}
    torch.manual_seed(1)
    for x, _, classes in augmented.train_dataloader():
        raw = x * augmented.std + augmented.mean
        for digit, c in zip(raw.view(-1, 14, 14), classes.flatten()):
            match = min(class_of, key=lambda k: (torch.tensor(k) - digit.flatten()).abs().max().item())
            assert class_of[match] == int(c)


def test_augmentations_never_touch_validation_or_test_pairs(mnist_dir):
    plain = datamodule(mnist_dir)
    augmented = datamodule(mnist_dir, shift=2, rotate=12, swap=True, fresh_pairs=True)
    digits_before = augmented.train_set.digits.clone()
    torch.manual_seed(0)
    for _ in range(2):
        list(augmented.train_dataloader())
    assert torch.equal(augmented.train_set.digits, digits_before)  # stored training digits untouched
    for loader in ("val_dataloader", "test_dataloader"):
        for (a, ta, ca), (b, tb, cb) in zip(getattr(plain, loader)(), getattr(augmented, loader)()):
            assert torch.equal(a, b) and torch.equal(ta, tb) and torch.equal(ca, cb)
    torch.manual_seed(0)
    x, _, _ = next(iter(augmented.train_dataloader()))
    assert not any(torch.equal(x, tx) for tx, _, _ in augmented.test_dataloader())


def two_epochs(dm):
    torch.manual_seed(0)
    return [batch for _ in range(2) for batch in dm.train_dataloader()]
