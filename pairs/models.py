"""Networks of the study: digit trunks, the two-digit PairNet, and the whole-image baselines."""

import math
from collections.abc import Sequence

import torch
from torch import nn

from common.errors import InputError
from pairs.data import DIGIT_SIZE


def scaled(widths: Sequence[int], factor: float) -> list[int]:
    """Each width times `factor`, rounded, at least 1."""
    return [max(1, round(w * factor)) for w in widths]


def dense_block(n_in: int, n_out: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    """Linear -> [BatchNorm] -> ReLU -> [Dropout]."""
    layers = [nn.Linear(n_in, n_out), *([nn.BatchNorm1d(n_out)] if batch_norm else []), nn.ReLU()]
    return layers + ([nn.Dropout(dropout)] if dropout else [])


def mlp(n_in: int, hidden: list[int], n_out: int, batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Flatten -> dense blocks of the given widths -> Linear(n_out)."""
    widths = [n_in, *hidden]
    blocks = [layer for a, b in zip(widths, widths[1:]) for layer in dense_block(a, b, batch_norm, dropout)]
    return nn.Sequential(nn.Flatten(), *blocks, nn.Linear(widths[-1], n_out))


def convnet(
    c_in: int,
    channels: list[int],
    hidden: list[int],
    n_out: int,
    batch_norm: bool = False,
    dropout: float = 0.0,
    same: bool = False,
) -> nn.Sequential:
    """3x3 convs -> [BatchNorm] -> ReLU on a 14x14 input, then an MLP head.

    same=False: valid convs, each followed by max-pool 2 (LeNet-like). same=True: padded convs with a
    max-pool 2 after every second one (VGG-like).
    """
    if not channels:
        raise InputError("a conv trunk needs at least one conv layer: give channels one width or more, e.g. [32, 64]")
    side, layers = DIGIT_SIZE, []
    for i, (a, b) in enumerate(zip([c_in, *channels], channels)):
        layers += [nn.Conv2d(a, b, 3, padding=int(same)), *([nn.BatchNorm2d(b)] if batch_norm else []), nn.ReLU()]
        side -= 0 if same else 2
        if not same or i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        if side < 1:
            raise InputError(
                f"{len(channels)} conv layers shrink a {DIGIT_SIZE}x{DIGIT_SIZE} input to nothing; use fewer channels "
                "entries"
            )
    return nn.Sequential(*layers, mlp(channels[-1] * side * side, hidden, n_out, batch_norm, dropout))


def trunk(kind: str, channels: list[int], hidden: list[int], batch_norm: bool, dropout: float) -> nn.Module:
    """A network mapping one 1x14x14 digit to 10 digit logits."""
    if kind == "mlp":
        return mlp(196, hidden, 10, batch_norm, dropout)
    if kind in ("cnn", "vgg"):
        return convnet(1, channels, hidden, 10, batch_norm, dropout, same=kind == "vgg")
    raise InputError(f"trunk must be 'mlp', 'cnn' or 'vgg', got {kind!r}")


def p_first_le_second(digit_logits: torch.Tensor) -> torch.Tensor:
    """P(d1 <= d2) = sum over i <= j of p1(i) p2(j), from digit logits [B, 2, 10]."""
    p = digit_logits.softmax(-1)
    cdf2_from_i = p[:, 1].flip(-1).cumsum(-1).flip(-1)  # P(d2 >= i)
    return (p[:, 0] * cdf2_from_i).sum(-1).clamp(0, 1)  # rounding can overshoot 1


class PairNet(nn.Module):
    """One trunk per digit (shared or separate), then the comparison of the two 10-way outputs.

    prediction="head": a learnt MLP head on the 20 outputs. prediction="digits": no head; the target is read
    off the digit distributions as P(d1 <= d2). forward returns target logits [B, 2] and digit logits [B, 2, 10].
    """

    def __init__(
        self,
        trunk_kind: str = "cnn",
        weight_sharing: bool = True,
        channels: Sequence[int] = (32, 64),
        hidden: Sequence[int] = (128,),
        head_hidden: int = 64,
        batch_norm: bool = False,
        dropout: float = 0.0,
        prediction: str = "head",
    ):
        super().__init__()
        if prediction not in ("head", "digits"):
            raise InputError(f"prediction must be 'head' or 'digits', got {prediction!r}")
        make = lambda: trunk(trunk_kind, list(channels), list(hidden), batch_norm, dropout)
        self.trunks = nn.ModuleList([make()] if weight_sharing else [make(), make()])
        self.head = mlp(20, [head_hidden], 2) if prediction == "head" else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.trunks) == 1:  # one pass over both digits stacked along the batch
            digits = self.trunks[0](x.reshape(-1, 1, DIGIT_SIZE, DIGIT_SIZE)).view(len(x), 2, 10)
        else:
            digits = torch.stack([t(x[:, i : i + 1]) for i, t in enumerate(self.trunks)], 1)
        if self.head is not None:
            return self.head(digits.flatten(1)), digits
        p = p_first_le_second(digits).clamp(1e-7, 1 - 1e-7)
        return torch.stack([(1 - p).log(), p.log()], 1), digits


class WholeImageNet(nn.Module):
    """A baseline that sees the 2-channel image at once; it has no digit outputs."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.body(x), None


def mean_log_prob(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """The log of the mean of the softmaxes of several logit tensors of one shape."""
    return torch.stack([t.log_softmax(-1) for t in logits]).logsumexp(0) - math.log(len(logits))


class Ensemble(nn.Module):
    """Independently initialised member networks; the ensemble's outputs are the logs of the members' mean
    probabilities (a single member's outputs are passed through unchanged)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def member_outputs(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Each member's (target logits, digit logits or None)."""
        return [member(x) for member in self.members]

    @staticmethod
    def combine(outputs: list[tuple[torch.Tensor, torch.Tensor | None]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(target logits, digit logits) of the mean probabilities."""
        if len(outputs) == 1:
            return outputs[0]
        logits, digits = zip(*outputs)
        return mean_log_prob(logits), None if digits[0] is None else mean_log_prob(digits)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.combine(self.member_outputs(x))


def baseline_cnn(batch_norm: bool = False, dropout: float = 0.0, width: float = 1.0) -> WholeImageNet:
    """The spec's plain convnet, 70,906 parameters: conv 32, conv 64, FC 200, FC 2 (each width times `width`)."""
    return WholeImageNet(convnet(2, scaled([32, 64], width), scaled([200], width), 2, batch_norm, dropout))


def baseline_mlp(hidden: Sequence[int] = (128, 128), batch_norm: bool = False, dropout: float = 0.0) -> WholeImageNet:
    """A plain MLP on the flattened 2x14x14 image."""
    return WholeImageNet(mlp(2 * DIGIT_SIZE * DIGIT_SIZE, list(hidden), 2, batch_norm, dropout))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
