"""Augmentations of training pairs, on raw 0..255 pixels. The test pairs never pass through here."""

import math

import torch
from torch.nn import functional as F


def affine(digits: torch.Tensor, shift: int = 0, rotate: float = 0.0) -> torch.Tensor:
    """Each digit of [N, H, W] rotated by U(-rotate, rotate) degrees about its centre and moved by integer
    offsets in {-shift..shift} pixels along each axis; what enters from outside is 0 (background)."""
    n, height, width = digits.shape
    angle = (2 * torch.rand(n) - 1) * math.radians(rotate)
    dx, dy = torch.randint(-shift, shift + 1, (2, n)).float()
    cos, sin = angle.cos(), angle.sin()
    # affine_grid maps each output pixel to the input point it samples, in [-1, 1] coordinates
    theta = torch.stack([torch.stack([cos, -sin, -2 * dx / width], 1), torch.stack([sin, cos, -2 * dy / height], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    return F.grid_sample(digits.unsqueeze(1), grid, padding_mode="zeros", align_corners=False).squeeze(1)


def swap(x: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exchange the two digits of a random half of the pairs [B, 2, ...], and their classes with them."""
    flip = torch.rand(len(x)) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(1), x), torch.where(flip.view(-1, 1), classes.flip(1), classes)


def pair_batches(n_pairs: int, batch_size: int, fresh_pairs: bool, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch of batches of digit-index pairs [B, 2] over the 2 n_pairs training digits (digit 2i and 2i+1
    form pair i): the original pairs in a shuffled order, or, with `fresh_pairs`, a fresh random pairing; drawn
    from `generator`."""
    if fresh_pairs:
        pairs = torch.randperm(2 * n_pairs, generator=generator).view(n_pairs, 2)
    else:
        pairs = torch.arange(2 * n_pairs).view(n_pairs, 2)[torch.randperm(n_pairs, generator=generator)]
    return list(pairs.split(batch_size))
