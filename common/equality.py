"""The equality check of comparisons: two implementations are timed or compared only once they compute the same
thing."""

from collections.abc import Iterable

import torch

from common.errors import Failure


def check_same(ours: Iterable[torch.Tensor], theirs: Iterable[torch.Tensor], tolerance: float, what: str) -> float:
    """The largest absolute difference between the paired tensors; a Failure naming `what` when it exceeds
    `tolerance`: then the two sides compute different things, and timing or comparing them would mislead."""
    gap = max((a.detach() - b.detach()).abs().max().item() for a, b in zip(ours, theirs, strict=True))
    if not gap <= tolerance:
        raise Failure(f"{what} differ by {gap:.3g} (> {tolerance:g}): the two sides do not compute the same thing")
    return gap
