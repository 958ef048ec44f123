"""MNIST with the framework: softmax regression or a two-layer MLP, trained with SGD from a YAML config.

    python -m framework.exercises.mnist --config configs/framework/two_layer.yaml [key=value ...]
    python -m framework.exercises.mnist --config configs/framework/two_layer.yaml --sweep lr 0.01 0.1 1 [--seeds 3]

Full 28x28 MNIST flattened to 784 and scaled to [0, 1]; the first 80% of the training split trains, the last
20% validates. Every epoch logs the training loss and accuracy (as trained) and the validation loss and
accuracy; the epoch best on validation is then evaluated once on the test split. Writes the learning curves
as CSV and PNG. A run whose training or validation loss stops being finite has diverged and stops there.

--sweep KEY VALUE...: one training per value of the numeric key (every other key as the config and overrides
give it) and per seed (seed, seed+1, ... : fresh initialisations and batch orders); the test split is not
read. Writes every curve (CSV), one figure (mean ± std per value) and a table of the final and best validation
accuracies (printed and Markdown) under <out_dir>/sweep_<key>/, with diverged runs shown as such.
"""

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
import yaml
from matplotlib.figure import Figure

from common import options, paths
from common.errors import InputError, run_main
from common.mnist import load_mnist, resolve_dir
from framework import SGD, CrossEntropy, Linear, ReLU, Sequential, Sigmoid
from framework.exercises import sweep as sweeps
from framework.exercises.experiment import accuracy, evaluate, train_epoch, without_autograd, write_csv

DEFAULTS = {
    "model": "two_layer",  # softmax | two_layer
    "hidden": 128,  # two_layer: hidden units
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.1,
    "lr_decay": 1.0,  # the learning rate is multiplied by this after every epoch
    "momentum": 0.0,
    "reg": 1e-3,  # L2: reg * W added to the gradient of weights, never biases
    "val_fraction": 0.2,
    "seed": 0,
    "data_dir": None,  # default $MNIST_DIR, then ./data
    "out_dir": None,  # default runs/framework/<config name>
}


INTERVALS = {
    "lr": options.POSITIVE,
    "lr_decay": options.Interval(0, 1, False, True),
    "momentum": options.FRACTION,
    "reg": options.NON_NEGATIVE,
    "val_fraction": options.OPEN_UNIT,
}


def is_number(value, types: type | tuple[type, ...]) -> bool:
    """value is an instance of types and not a bool (YAML's `true` is no number)."""
    return isinstance(value, types) and not isinstance(value, bool)


INTEGERS = {"hidden": options.COUNTS, "epochs": options.COUNTS, "batch_size": options.COUNTS, "seed": options.SEEDS}
NUMERIC = (*INTEGERS, *INTERVALS)


def parse_value(key: str, text: str):
    """A value for key from text: YAML, except that a numeric key reads 1e-4 as a number (YAML: a string)."""
    if key in NUMERIC:
        for kind in (int, float):
            try:
                return kind(text)
            except (TypeError, ValueError):
                pass
    try:
        return options.load_yaml(text, key)
    except yaml.YAMLError as e:
        raise InputError(f"{key}: {text!r} is not a YAML value ({e.problem})") from None


def load_config(path: Path, overrides: list[str]) -> dict:
    """DEFAULTS updated by the YAML file and then by key=value overrides; unknown keys and bad values fail."""
    given = options.load_mapping(path)
    given = {k: parse_value(k, v) if isinstance(v, str) else v for k, v in given.items()}
    overridden: set[str] = set()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"override {item!r} is not key=value")
        if key in overridden:
            raise InputError(f"override {key} given twice ({' '.join(overrides)}); give each key once")
        overridden.add(key)
        given[key] = parse_value(key, value)
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise InputError(f"unknown config key(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}")
    config = check(DEFAULTS | given)
    config["out_dir"] = Path(config["out_dir"] or Path("runs/framework") / path.stem)
    paths.writable_folder(config["out_dir"], "out_dir")
    return config


def check(config: dict) -> dict:
    """The config, once every value passes its key's check (an InputError naming the first that does not)."""
    if config["model"] not in ("softmax", "two_layer"):
        raise InputError(f"model must be 'softmax' or 'two_layer', got {config['model']!r}")
    for key, interval in INTEGERS.items():
        if not (is_number(config[key], int) and interval.holds(config[key])):
            raise InputError(f"{key} must be an integer {interval}, got {config[key]!r}")
    for key, interval in INTERVALS.items():
        if not (is_number(config[key], (int, float)) and interval.holds(config[key])):
            raise InputError(f"{key} must be a number {interval}, got {config[key]!r}")
    return config


def images(split_name: str, data_dir) -> tuple[torch.Tensor, torch.Tensor]:
    """x [N, 784] in [0, 1] and the labels of one MNIST split ('train' or 'test')."""
    x, labels = load_mnist(split_name, data_dir)
    return x.reshape(len(x), -1).float() / 255, labels


def split(x: torch.Tensor, labels: torch.Tensor, val_fraction: float):
    """(train, validation) pairs of x and labels; validation is the tail."""
    n_train = round(len(x) * (1 - val_fraction))
    if not 0 < n_train < len(x):
        raise InputError(
            f"val_fraction={val_fraction} leaves {n_train} training and {len(x) - n_train} validation images "
            f"of {len(x)}; each needs at least one"
        )
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:])


def build(config: dict, generator: torch.Generator) -> Sequential:
    if config["model"] == "softmax":
        return Sequential(Linear(784, 10, bias=False, generator=generator), ReLU())
    return Sequential(
        Linear(784, config["hidden"], generator=generator), Sigmoid(), Linear(config["hidden"], 10, generator=generator)
    )


def plot(rows: list[dict], path: Path, title: str) -> None:
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
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


def trained(
    config: dict, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], label: str = ""
) -> Iterator[tuple[dict, Sequential]]:
    """Train as the config says (initialisation and batch order from its seed); after every epoch, a progress line
    and (its row, the model). The row: training loss and accuracy as trained, validation loss and accuracy.
    Stops after an epoch whose training or validation loss is not finite: the run diverged."""
    generator = torch.Generator().manual_seed(config["seed"])
    model, loss = build(config, generator), CrossEntropy()
    optimizer = SGD(model.param(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["reg"])
    for epoch in range(1, config["epochs"] + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(model, loss, optimizer, *train, config["batch_size"], generator)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": evaluate(model, loss, *val),
            "val_acc": accuracy(model, *val),
            "seconds": time.perf_counter() - start,
        }
        print(
            f"{label}epoch {epoch:3d}/{config['epochs']}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  ({row['seconds']:.1f} s)",
            flush=True,
        )
        yield row, model
        if sweeps.diverged(row):
            print(
                f"{label}diverged: training loss {train_loss}, validation loss {row['val_loss']} at epoch {epoch}; "
                f"this run stops",
                flush=True,
            )
            return
        optimizer.lr *= config["lr_decay"]


@without_autograd()
def run(config: dict, name: str) -> dict:
    """Train, log every epoch, evaluate the best-on-validation epoch on the test split; returns the summary."""
    train, val = split(*images("train", config["data_dir"]), config["val_fraction"])
    rows: list[dict] = []
    best: tuple[dict, Sequential] | None = None
    for row, model in trained(config, train, val):
        rows.append(row)
        if best is None or row["val_acc"] > best[0]["val_acc"]:
            best = (row, copy.deepcopy(model))
    row, best_model = cast(tuple[dict, Sequential], best)  # epochs >= 1: trained() yields at least once
    test_acc = accuracy(best_model, *images("test", config["data_dir"]))
    out = config["out_dir"]
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "curves.csv")
    plot(rows, out / "curves.png", f"{name}: test accuracy {test_acc:.4f} at epoch {row['epoch']} (best on validation)")
    print(f"best validation epoch {row['epoch']} (val acc {row['val_acc']:.4f}): test accuracy {test_acc:.4f}")
    print(f"curves: {out / 'curves.csv'}, {out / 'curves.png'}")
    return {"best_epoch": row["epoch"], "val_acc": row["val_acc"], "test_acc": test_acc}


def sweep_configs(config: dict, key: str, texts: list[str], seeds: int) -> list[list[dict]]:
    """The sweep's checked configs, per value then per seed, every other key as `config` gives it."""
    keys = [k for k in NUMERIC if k != "seed"]
    if key == "seed":
        raise InputError("--sweep seed: the seeds are varied by --seeds N (seed, seed+1, ...); sweep another key")
    if key not in DEFAULTS:
        raise InputError(f"--sweep: unknown key {key!r}; numeric keys: {', '.join(keys)}")
    if key not in keys:
        raise InputError(f"--sweep: {key!r} is not numeric; sweep one of {', '.join(keys)}")
    if key == "hidden" and config["model"] == "softmax":
        raise InputError("--sweep hidden: the softmax model has no hidden layer; use model=two_layer")
    if not texts:
        raise InputError(f"--sweep {key}: no values; give one or more, e.g. --sweep {key} {config[key]}")
    overrides = [t for t in texts if "=" in t]
    if overrides:
        raise InputError(f"--sweep {key}: {overrides[0]!r} is not a value; put key=value overrides before --sweep")
    try:
        configs = [
            [check({**config, key: parse_value(key, t), "seed": config["seed"] + i}) for i in range(seeds)]
            for t in texts
        ]
    except InputError as e:
        raise InputError(f"--sweep {key}: {e}") from None
    values = [runs[0][key] for runs in configs]
    if len(set(values)) < len(values):
        raise InputError(f"--sweep {key}: a value is given twice in {' '.join(texts)}; give each value once")
    return configs


@torch.no_grad()
def sweep(configs: list[list[dict]], key: str, name: str) -> list[dict]:
    """Train every config of the sweep (per value, per seed) on the training and validation images, never the
    test split; write the curves (CSV), the figure and the table under <out_dir>/sweep_<key>/; returns the
    per-value summary."""
    first = configs[0][0]
    x, labels = images("train", first["data_dir"])
    splits = [split(x, labels, runs[0]["val_fraction"]) for runs in configs]  # all checked before any training
    rows = []
    for runs, (train, val) in zip(configs, splits):
        for i, config in enumerate(runs):
            label = f"{key}={config[key]} seed {config['seed']} ({i + 1}/{len(runs)})  "
            rows += [{key: config[key], "seed": config["seed"], **row} for row, _ in trained(config, train, val, label)]
    out = first["out_dir"] / f"sweep_{key}"
    summaries = sweeps.summary(rows, key)
    held = ", ".join(f"{k}={v}" for k, v in first.items() if k not in (key, "seed", "data_dir", "out_dir"))
    last = first["seed"] + len(configs[0]) - 1
    seeds = f"seed {last}" if last == first["seed"] else f"seeds {first['seed']}..{last}"
    text = f"{name}: validation accuracy per {key} over {seeds}; every other key: {held}\n\n"
    text += sweeps.table(summaries, key) + "\n"
    write_csv(rows, out / "curves.csv")
    (out / "table.md").write_text(text)
    sweeps.plot(rows, key, out / "curves.png", f"{name}: {key} swept, {len(configs[0])} seed(s) per value")
    print(f"\n{text}\ncurves: {out / 'curves.csv'}, {out / 'curves.png'}; table: {out / 'table.md'}")
    return summaries


def main(argv: list[str] | None = None) -> dict | list[dict]:
    ranges = {**INTEGERS, **INTERVALS}
    keys = "; ".join(f"{k} ({DEFAULTS[k]}{', ' + str(ranges[k]) if k in ranges else ''})" for k in DEFAULTS)
    parser = options.parser(__doc__, epilog=f"config keys (default, range): {keys}")
    parser.add_argument("--config", type=Path, required=True, help="a YAML file of config keys (see below)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config values")
    parser.add_argument(
        "--sweep",
        nargs="+",
        metavar=("KEY", "VALUE"),
        help="train once per value of this numeric key (validation only; the test split is not read)",
    )
    parser.add_argument("--seeds", type=options.seed_count, help="with --sweep: seeds per value (default 3)")
    args = parser.parse_intermixed_args(argv)
    if args.seeds is not None and not args.sweep:
        raise InputError("--seeds applies to a sweep only; add --sweep KEY VALUE... (one run uses seed=)")
    config = load_config(args.config, args.overrides)
    options.check_paths(
        parser,
        inputs={"--config": args.config, "data_dir": resolve_dir(config["data_dir"])},
        outputs={"out_dir": (config["out_dir"], options.FOLDER)},
    )
    if args.sweep:
        fixed = [item for item in args.overrides if item.partition("=")[0] == args.sweep[0]]
        if fixed:
            raise InputError(
                f"--sweep {args.sweep[0]} sets {args.sweep[0]}, so the override {fixed[0]} has no effect; drop it"
            )
        seeds = 3 if args.seeds is None else args.seeds
        return sweep(sweep_configs(config, args.sweep[0], args.sweep[1:], seeds), args.sweep[0], args.config.stem)
    return run(config, args.config.stem)


if __name__ == "__main__":
    run_main(main)
