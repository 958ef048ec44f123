"""Helpers shared by the framework's runners (not part of the library: it imports torch)."""

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from framework import Module


@contextmanager
def without_autograd() -> Iterator[None]:
    """Inside, torch.set_grad_enabled(False): the framework computes every gradient itself. Scoped, so a caller (a
    test, another runner) keeps its own setting. Also a decorator: `@without_autograd()`."""
    with torch.set_grad_enabled(False):
        yield


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches over n samples, reshuffled by `generator` (None: in order); all full but the last."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def train_epoch(
    model: Module,
    loss: Module,
    optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    labels: torch.Tensor | None = None,
) -> tuple[float, float]:
    """One epoch of mini-batch training: the mean loss and accuracy (against `labels`, default y) as trained."""
    labels = y if labels is None else labels
    model.train()
    total, correct = 0.0, 0
    for index in batches(len(x), batch_size, generator):
        optimizer.zero_grad()
        out = model.forward(x[index])
        total += loss.forward(out, y[index]).item() * len(index)
        correct += int((classes(out) == labels[index]).sum())
        model.backward(loss.backward())
        optimizer.step()
    return total / len(x), correct / len(x)


def evaluate(model: Module, loss: Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10_000) -> float:
    """Mean loss over (x, y), in eval mode, in large batches."""
    model.eval()
    total = sum(loss.forward(model.forward(x[i]), y[i]).item() * len(i) for i in batches(len(x), batch_size, None))
    return total / len(x)


def classes(out: torch.Tensor) -> torch.Tensor:
    """Class predictions: argmax over outputs, or output > 0.5 for a single output unit."""
    return out.argmax(1) if out.shape[1] > 1 else (out.view(-1) > 0.5).long()


def predict(model: Module, x: torch.Tensor, batch_size: int = 10_000) -> torch.Tensor:
    """Class predictions for x, in eval mode, in large batches."""
    model.eval()
    return classes(torch.cat([model.forward(x[i]) for i in batches(len(x), batch_size, None)]))


def accuracy(model: Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of x whose predicted class is its label."""
    return (predict(model, x) == labels).float().mean().item()


def write_csv(rows: list[dict], path: Path) -> None:
    """The rows as CSV, columns in the first row's order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
