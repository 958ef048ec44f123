"""Optimizers over (parameter, gradient) pairs. Weight decay touches weights (dim >= 2), never biases."""

import math

from torch import empty


class Optimizer:
    def __init__(self, params: list, lr: float, weight_decay: float):
        if lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.params, self.lr, self.weight_decay = list(params), lr, weight_decay

    def gradient(self, p, g):
        """The gradient plus the L2 term weight_decay * p for weights."""
        return g.add(p, alpha=self.weight_decay) if self.weight_decay and p.dim() > 1 else g

    def zero_grad(self) -> None:
        for _, g in self.params:
            g.zero_()


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + grad (torch's SGD without dampening or Nesterov)."""

    def __init__(self, params: list, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum, self.velocity = momentum, [None] * len(self.params)

    def step(self) -> None:
        for i, (p, g) in enumerate(self.params):
            d = self.gradient(p, g)
            if self.momentum:
                v = self.velocity[i]
                d = self.velocity[i] = d.clone() if v is None else v.mul_(self.momentum).add_(d)
            p.add_(d, alpha=-self.lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as torch computes it; weight decay is L2 on weights."""

    def __init__(
        self, params: list, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ):
        super().__init__(params, lr, weight_decay)
        self.betas, self.eps, self.t = betas, eps, 0
        self.m = [empty(p.shape, dtype=p.dtype).zero_() for p, _ in self.params]
        self.v = [empty(p.shape, dtype=p.dtype).zero_() for p, _ in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        correction1, correction2 = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for (p, g), m, v in zip(self.params, self.m, self.v):
            d = self.gradient(p, g)
            m.lerp_(d, 1 - b1)
            v.mul_(b2).addcmul_(d, d, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / correction2).add_(self.eps), value=-self.lr / correction1)
