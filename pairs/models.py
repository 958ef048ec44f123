"""Networks of the study: digit trunks, the two-digit PairNet, and the whole-image baselines."""

import torch
from torch import nn


def dense_block(n_in: int, n_out: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    """Linear -> [BatchNorm] -> ReLU -> [Dropout]."""
    layers = [nn.Linear(n_in, n_out), *([nn.BatchNorm1d(n_out)] if batch_norm else []), nn.ReLU()]
    return layers + ([nn.Dropout(dropout)] if dropout else [])


def conv_block(c_in: int, c_out: int, kernel: int, batch_norm: bool) -> list[nn.Module]:
    """Conv -> [BatchNorm] -> ReLU -> MaxPool(2)."""
    layers = [nn.Conv2d(c_in, c_out, kernel), *([nn.BatchNorm2d(c_out)] if batch_norm else [])]
    return layers + [nn.ReLU(), nn.MaxPool2d(2)]


def mlp(n_in: int, hidden: list[int], n_out: int, batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Flatten -> dense blocks of the given widths -> Linear(n_out)."""
    widths = [n_in, *hidden]
    blocks = [layer for a, b in zip(widths, widths[1:]) for layer in dense_block(a, b, batch_norm, dropout)]
    return nn.Sequential(nn.Flatten(), *blocks, nn.Linear(widths[-1], n_out))


def convnet(
    c_in: int, channels: list[int], hidden: list[int], n_out: int, batch_norm: bool = False, dropout: float = 0.0
) -> nn.Sequential:
    """3x3 conv blocks (valid padding, max-pool 2) on a 14x14 input, then an MLP head."""
    side, convs = 14, []
    for a, b in zip([c_in, *channels], channels):
        convs += conv_block(a, b, 3, batch_norm)
        side = (side - 2) // 2
    if side < 1:
        raise ValueError(f"{len(channels)} conv blocks shrink a 14x14 input to nothing; use at most 2")
    return nn.Sequential(*convs, mlp(channels[-1] * side * side, hidden, n_out, batch_norm, dropout))


def trunk(kind: str, channels: list[int], hidden: list[int], batch_norm: bool, dropout: float) -> nn.Module:
    """A network mapping one 1x14x14 digit to 10 digit logits."""
    if kind == "mlp":
        return mlp(196, hidden, 10, batch_norm, dropout)
    if kind == "cnn":
        return convnet(1, channels, hidden, 10, batch_norm, dropout)
    raise ValueError(f"trunk must be 'mlp' or 'cnn', got {kind!r}")


def p_first_le_second(digit_logits: torch.Tensor) -> torch.Tensor:
    """P(d1 <= d2) = sum over i <= j of p1(i) p2(j), from digit logits [B, 2, 10]."""
    p = digit_logits.softmax(-1)
    cdf2_from_i = p[:, 1].flip(-1).cumsum(-1).flip(-1)  # P(d2 >= i)
    return (p[:, 0] * cdf2_from_i).sum(-1).clamp(0, 1)  # rounding can overshoot 1


class PairNet(nn.Module):
    """One trunk per digit (shared or separate), then a comparison head on the two 10-way outputs.

    forward returns target logits [B, 2] and digit logits [B, 2, 10].
    """

    def __init__(
        self,
        trunk_kind: str = "cnn",
        weight_sharing: bool = True,
        channels: list[int] = (32, 64),
        hidden: list[int] = (128,),
        head_hidden: int = 64,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        make = lambda: trunk(trunk_kind, list(channels), list(hidden), batch_norm, dropout)  # noqa: E731
        self.trunks = nn.ModuleList([make()] if weight_sharing else [make(), make()])
        self.head = mlp(20, [head_hidden], 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.trunks) == 1:  # one pass over both digits stacked along the batch
            digits = self.trunks[0](x.reshape(-1, 1, 14, 14)).view(len(x), 2, 10)
        else:
            digits = torch.stack([t(x[:, i : i + 1]) for i, t in enumerate(self.trunks)], 1)
        return self.head(digits.flatten(1)), digits


class WholeImageNet(nn.Module):
    """A baseline that sees the 2-channel image at once; it has no digit outputs."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.body(x), None


def baseline_cnn(batch_norm: bool = False, dropout: float = 0.0) -> WholeImageNet:
    """The spec's plain convnet, 70,906 parameters: conv 32, conv 64, FC 200, FC 2."""
    return WholeImageNet(convnet(2, [32, 64], [200], 2, batch_norm, dropout))


def baseline_mlp(hidden: list[int] = (128, 128), batch_norm: bool = False, dropout: float = 0.0) -> WholeImageNet:
    """A plain MLP on the flattened 2x14x14 image."""
    return WholeImageNet(mlp(392, list(hidden), 2, batch_norm, dropout))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
