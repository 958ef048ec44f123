"""MNIST with the framework: softmax regression or a two-layer MLP, trained with SGD from a YAML config.

    python -m framework.exercises.mnist --config configs/framework/two_layer.yaml [key=value ...]

Full 28x28 MNIST flattened to 784 and scaled to [0, 1]; the first 80% of the training split trains, the last
20% validates. Every epoch logs the training loss and accuracy (as trained) and the validation loss and
accuracy; the epoch best on validation is then evaluated once on the test split. Writes the learning curves
as CSV and PNG.
"""

import argparse
import copy
import csv
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import matplotlib
import torch
import yaml

from framework import SGD, CrossEntropy, Linear, ReLU, Sequential, Sigmoid
from framework.exercises.experiment import accuracy, evaluate, train_epoch
from pairs.mnist import MNISTError, load_mnist

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEFAULTS = {
    "model": "two_layer",    # softmax | two_layer
    "hidden": 128,           # two_layer: hidden units
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.1,
    "lr_decay": 1.0,         # the learning rate is multiplied by this after every epoch
    "momentum": 0.0,
    "reg": 1e-3,             # L2: reg * W added to the gradient of weights, never biases
    "val_fraction": 0.2,
    "seed": 0,
    "data_dir": None,        # default $MNIST_DIR, then ./data
    "out_dir": None,         # default runs/framework/<config name>
}


class Interval(NamedTuple):
    """The numbers from low to high; each end included where its flag says so."""
    low: float
    high: float
    low_included: bool
    high_included: bool

    def holds(self, x: float) -> bool:
        above = self.low <= x if self.low_included else self.low < x
        return above and (x <= self.high if self.high_included else x < self.high)

    def __str__(self) -> str:
        return f"{'[' if self.low_included else '('}{self.low:g}, {self.high:g}{']' if self.high_included else ')'}"


INTERVALS = {
    "lr": Interval(0, math.inf, False, False),
    "lr_decay": Interval(0, 1, False, True),
    "momentum": Interval(0, 1, True, False),
    "reg": Interval(0, math.inf, True, False),
    "val_fraction": Interval(0, 1, False, False),
}


def is_number(value, types: type | tuple[type, ...]) -> bool:
    """value is an instance of types and not a bool (YAML's `true` is no number)."""
    return isinstance(value, types) and not isinstance(value, bool)


def load_config(path: Path, overrides: list[str]) -> dict:
    """DEFAULTS updated by the YAML file and then by key=value overrides; unknown keys and bad values fail."""
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    config = dict(DEFAULTS)
    given = yaml.safe_load(path.read_text()) or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        given[key] = yaml.safe_load(value)
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}")
    config |= given
    if config["model"] not in ("softmax", "two_layer"):
        raise ValueError(f"model must be 'softmax' or 'two_layer', got {config['model']!r}")
    for key in ("hidden", "epochs", "batch_size"):
        if not is_number(config[key], int) or config[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]!r}")
    for key, interval in INTERVALS.items():
        if not (is_number(config[key], (int, float)) and interval.holds(config[key])):
            raise ValueError(f"{key} must be a number in {interval}, got {config[key]!r}")
    config["out_dir"] = Path(config["out_dir"] or Path("runs/framework") / path.stem)
    return config


def split(data_dir, val_fraction: float):
    """(train, validation, test) pairs of x [N, 784] in [0, 1] and labels; validation is the split's tail."""
    images, labels = load_mnist("train", data_dir)
    test_images, test_labels = load_mnist("test", data_dir)
    x, test_x = (i.reshape(len(i), -1).float() / 255 for i in (images, test_images))
    n_train = round(len(x) * (1 - val_fraction))
    if not 0 < n_train < len(x):
        raise ValueError(f"val_fraction={val_fraction} leaves {n_train} training and {len(x) - n_train} validation images "
                         f"of {len(x)}; each needs at least one")
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:]), (test_x, test_labels)


def build(config: dict, generator: torch.Generator) -> Sequential:
    if config["model"] == "softmax":
        return Sequential(Linear(784, 10, bias=False, generator=generator), ReLU())
    return Sequential(Linear(784, config["hidden"], generator=generator), Sigmoid(),
                      Linear(config["hidden"], 10, generator=generator))


def plot(rows: list[dict], path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(axes, ("loss", "acc")):
        for split_name in ("train", "val"):
            ax.plot(epochs, [r[f"{split_name}_{metric}"] for r in rows], marker="o", label=split_name)
        ax.set(xlabel="epoch", ylabel={"loss": "cross-entropy", "acc": "accuracy"}[metric])
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()  # the framework needs no autograd; scoped, so callers keep theirs
def run(config: dict, name: str) -> dict:
    """Train, log every epoch, evaluate the best-on-validation epoch on the test split; returns the summary."""
    generator = torch.Generator().manual_seed(config["seed"])
    (x, y), (val_x, val_y), (test_x, test_y) = split(config["data_dir"], config["val_fraction"])
    model, loss = build(config, generator), CrossEntropy()
    optimizer = SGD(model.param(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["reg"])
    rows, best = [], None
    for epoch in range(1, config["epochs"] + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(model, loss, optimizer, x, y, config["batch_size"], generator)
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": evaluate(model, loss, val_x, val_y),
               "val_acc": accuracy(model, val_x, val_y), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"epoch {epoch:3d}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
              f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  ({row['seconds']:.1f} s)")
        if best is None or row["val_acc"] > best[0]["val_acc"]:
            best = (row, copy.deepcopy(model))
        optimizer.lr *= config["lr_decay"]
    row, best_model = best
    test_acc = accuracy(best_model, test_x, test_y)
    out = config["out_dir"]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "curves.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out / "curves.png", f"{name}: test accuracy {test_acc:.4f} at epoch {row['epoch']} (best on validation)")
    print(f"best validation epoch {row['epoch']} (val acc {row['val_acc']:.4f}): test accuracy {test_acc:.4f}")
    print(f"curves: {out / 'curves.csv'}, {out / 'curves.png'}")
    return {"best_epoch": row["epoch"], "val_acc": row["val_acc"], "test_acc": test_acc}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config values")
    args = parser.parse_args(argv)
    try:
        return run(load_config(args.config, args.overrides), args.config.stem)
    except (ValueError, MNISTError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
