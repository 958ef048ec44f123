"""Layers with parameters or modes: Linear and Dropout."""

import math

from torch import empty

from framework.module import Module

INITS = ("default", "xavier", "he")


class Linear(Module):
    """y = x W^T + b for x [N, in_features].

    init: `default` U(+-1/sqrt(fan_in)) for weight and bias (as torch does), `xavier`
    U(+-sqrt(6 / (fan_in + fan_out))) or `he` N(0, 2 / fan_in), both with zero bias.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, init: str = "default", dtype=None, generator=None
    ):
        if init not in INITS:
            raise ValueError(f"Linear init must be one of {INITS}, got {init!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty(out_features, in_features, dtype=dtype)
        self.bias = empty(out_features, dtype=dtype) if bias else None
        if init == "default":
            bound = 1 / math.sqrt(in_features)
            self.weight.uniform_(-bound, bound, generator=generator)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound, generator=generator)
        else:
            if init == "xavier":
                bound = math.sqrt(6 / (in_features + out_features))
                self.weight.uniform_(-bound, bound, generator=generator)
            else:
                self.weight.normal_(0, math.sqrt(2 / in_features), generator=generator)
            if self.bias is not None:
                self.bias.zero_()
        self.grad_weight = empty(self.weight.shape, dtype=self.weight.dtype).zero_()
        self.grad_bias = empty(self.bias.shape, dtype=self.weight.dtype).zero_() if self.bias is not None else None

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} expects input [N, {self.in_features}], got {tuple(x.shape)}")
        self.input = x
        return x @ self.weight.t() if self.bias is None else self.bias.addmm(x, self.weight.t())

    def backward(self, grad):
        x = self.saved("input")
        self.check_grad(grad, (x.shape[0], self.out_features))
        self.grad_weight.addmm_(grad.t(), x)
        if self.grad_bias is not None:
            self.grad_bias.add_(grad.sum(0))
        return grad @ self.weight

    def param(self) -> list:
        pairs = [(self.weight, self.grad_weight)]
        return pairs + ([(self.bias, self.grad_bias)] if self.bias is not None else [])

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class Dropout(Module):
    """Zeroes each input with probability p in training mode and scales the rest by 1/(1-p); identity in eval."""

    def __init__(self, p: float = 0.5, generator=None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p, self.generator = p, generator

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = x.new_ones(())
            return x
        self.mask = empty(x.shape, dtype=x.dtype).bernoulli_(1 - self.p, generator=self.generator).div_(1 - self.p)
        return x * self.mask

    def backward(self, grad):
        return grad * self.saved("mask")

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
