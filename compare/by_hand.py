"""The study's pair networks trained by the framework: one cell of the 2x2 (x trunk), from its fixed recipe.

    python -m compare.by_hand --cell cnn_aux_shared [--rounds 10] [--epochs 25] [--study RESULTS.jsonl]
    python -m compare.by_hand --cell all --rounds 10 --study results/benchmark.jsonl

Reads configs/fixed/<cell>.yaml (architecture, aux_weight, batch size, epochs, Adam's lr; the defaults it leaves
out are PairClassifier's and PairDataModule's), draws the pairs of round seed s with
pairs.data.generate_pair_sets(n_pairs, Generator().manual_seed(s)) as the study does, standardises them with the
training pairs' mean and std, and trains with Adam on CE(target) + aux_weight * CE(digits). Weights and the
batch order (the pairs reshuffled every epoch, as the study's loader does) come from the framework's own
generator seeded with s, not from torch's global RNG. Test accuracy is that of the last epoch; the test pairs are
used once. Rounds use seeds 0..N-1; --study adds the Lightning study's accuracies on the same seeds, read from a
benchmark results file, and the paired difference with its 95% confidence interval.
"""

import inspect
import statistics
import time
from pathlib import Path

import torch

from common import options
from common.errors import InputError, run_main
from common.stats import mean_std, paired_effect
from framework import (
    Adam,
    Conv2d,
    CrossEntropy,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    PairNet,
    ReLU,
    Sequential,
    WeightedLosses,
)
from framework.exercises.experiment import batches, without_autograd
from pairs.classifier import PairClassifier
from pairs.data import DIGIT_SIZE, PairDataModule, generate_pair_sets
from pairs.results import load
from pairs.study import FACTORIAL_CELLS, FIXED

# Every constructor key of the study's model and data, as the framework runner treats it: FOLLOWED at any value, or
# REQUIRED at one value (what the framework does not do). A key in neither is refused, so a new one cannot be
# silently ignored.
FOLLOWED: dict[str, set[str]] = {
    "model": {"trunk", "weight_sharing", "aux_weight", "channels", "hidden", "head_hidden"},
    "data": {"n_pairs", "batch_size", "data_dir"},
}
REQUIRED: dict[str, dict[str, object]] = {
    "model": {
        "arch": "pairnet",
        "batch_norm": False,
        "dropout": 0.0,
        "prediction": "head",
        "members": 1,
        "width": 1.0,
        "memory_format": "contiguous_format",
        "target_weight": 1.0,
        "label_smoothing": 0.0,
    },
    "data": {
        "val_pairs": 0,
        "seed": None,
        "order_seed": None,
        "shift": 0,
        "rotate": 0.0,
        "swap": False,
        "fresh_pairs": False,
    },
}


def defaults(cls: type) -> dict:
    """The constructor defaults of `cls`."""
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def recipe(cell: str, root: Path = FIXED) -> dict:
    """The fixed recipe of `cell`: {"model", "data", "epochs", "lr"}, the study's defaults filled in."""
    if cell not in FACTORIAL_CELLS:
        raise InputError(f"unknown cell {cell!r}; cells: {', '.join(FACTORIAL_CELLS)}, or all")
    path = root / f"{cell}.yaml"
    config = options.load_mapping(path)
    model, data = defaults(PairClassifier) | config.get("model", {}), defaults(PairDataModule) | config.get("data", {})
    for section, values in (("model", model), ("data", data)):
        for key, value in values.items():
            if key not in FOLLOWED[section] and (key not in REQUIRED[section] or value != REQUIRED[section][key]):
                needs = f"it needs {REQUIRED[section][key]!r}" if key in REQUIRED[section] else "it knows no such key"
                culprit = f"{path}: {section}.{key} = {value!r}"
                raise InputError(f"{culprit} is not supported by the framework runner; {needs}")
    if model["trunk"] not in ("cnn", "mlp"):
        raise InputError(f"{path}: model.trunk = {model['trunk']!r}; the framework runner builds 'cnn' or 'mlp'")
    optimizer, epochs = config.get("optimizer", {}), config.get("trainer", {}).get("max_epochs")
    if (
        optimizer.get("class_path") != "torch.optim.Adam"
        or set(optimizer.get("init_args", {})) - {"lr"}
        or "lr_scheduler" in config
        or not isinstance(epochs, int)
    ):
        raise InputError(
            f"{path}: the framework runner needs trainer.max_epochs and trains with Adam(lr) and no "
            f"scheduler; got max_epochs {epochs}, optimizer {optimizer}, lr_scheduler "
            f"{config.get('lr_scheduler')}"
        )
    return {
        "model": model,
        "data": data,
        "epochs": epochs,
        "lr": (defaults(torch.optim.Adam) | optimizer.get("init_args", {}))["lr"],
    }


def mlp(n_in: int, hidden: list[int], n_out: int, generator: torch.Generator, dtype=None) -> Sequential:
    """Flatten -> (Linear -> ReLU) per hidden width -> Linear(n_out), as pairs.models.mlp."""
    widths = [n_in, *hidden]
    blocks = [m for a, b in zip(widths, widths[1:]) for m in (Linear(a, b, dtype=dtype, generator=generator), ReLU())]
    return Sequential(Flatten(), *blocks, Linear(widths[-1], n_out, dtype=dtype, generator=generator))


def trunk(model: dict, generator: torch.Generator, dtype=None) -> Sequential:
    """One digit [1, 14, 14] -> 10 logits: the `mlp` trunk, or the `cnn` trunk (valid 3x3 conv -> ReLU -> max-pool 2
    per channel width, then an MLP), as pairs.models.trunk."""
    if model["trunk"] == "mlp":
        return mlp(DIGIT_SIZE * DIGIT_SIZE, model["hidden"], 10, generator, dtype)
    side, layers = DIGIT_SIZE, []
    for a, b in zip([1, *model["channels"]], model["channels"]):
        layers += [Conv2d(a, b, 3, dtype=dtype, generator=generator), ReLU(), MaxPool2d(2)]
        side = (side - 2) // 2
    return Sequential(*layers, mlp(model["channels"][-1] * side * side, model["hidden"], 10, generator, dtype))


def build(model: dict, generator: torch.Generator, dtype=None) -> PairNet:
    """The study's PairNet: one trunk (shared) or two, and the comparison head mlp(20, [head_hidden], 2)."""
    trunks: list[Module] = [trunk(model, generator, dtype) for _ in range(1 if model["weight_sharing"] else 2)]
    return PairNet(trunks, mlp(20, [model["head_hidden"]], 2, generator, dtype))


def pair_loss(aux_weight: float) -> WeightedLosses:
    """CE(target) + aux_weight * CE(digits) = the study's loss: the digit term is the mean of the two digits' CEs."""
    return WeightedLosses((1.0, CrossEntropy()), (aux_weight, CrossEntropy()))


def train_epoch(
    model: Module,
    loss: WeightedLosses,
    optimizer,
    x: torch.Tensor,
    target: torch.Tensor,
    classes: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> list[float]:
    """One epoch over the pairs reshuffled by `generator`; the loss of every batch."""
    values = []
    for index in batches(len(x), batch_size, generator):
        optimizer.zero_grad()
        values.append(loss.forward(model.forward(x[index]), (target[index], classes[index].reshape(-1))).item())
        model.backward(*loss.backward())
        optimizer.step()
    return values


def standardised_pairs(n_pairs: int, seed: int, data_dir, dtype=torch.float32) -> tuple[tuple[torch.Tensor, ...], ...]:
    """The round's (x, target, classes) for training and for test, standardised with the training mean and std."""
    train_x, train_target, train_classes, test_x, test_target, test_classes = generate_pair_sets(
        n_pairs, torch.Generator().manual_seed(seed), data_dir
    )
    mean, std = train_x.mean(), train_x.std()
    return (((train_x - mean) / std).to(dtype), train_target, train_classes), (
        ((test_x - mean) / std).to(dtype),
        test_target,
        test_classes,
    )


def run(cell: dict, seed: int, epochs: int) -> tuple[float, float]:
    """One round: (test accuracy of the last epoch, mean seconds per training epoch)."""
    (x, target, classes), (test_x, test_target, _) = standardised_pairs(
        cell["data"]["n_pairs"], seed, cell["data"]["data_dir"]
    )
    generator = torch.Generator().manual_seed(seed)
    model = build(cell["model"], generator)
    loss, optimizer = pair_loss(cell["model"]["aux_weight"]), Adam(model.param(), lr=cell["lr"])
    start = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, loss, optimizer, x, target, classes, cell["data"]["batch_size"], generator)
    seconds = (time.perf_counter() - start) / epochs
    accuracy = (model.forward(test_x)[0].argmax(1) == test_target).double().mean().item()
    return accuracy, seconds


def study_accuracies(path: Path, cell: str) -> dict[int, float]:
    """The Lightning study's test accuracy per seed for the fixed recipe of `cell` (the last record of each seed)."""
    return {r["seed"]: r["metrics"]["acc"] for r in load(path) if r["config"] == f"fixed/{cell}"}


def summary(cell: str, ours: dict[int, float], seconds: float, study: dict[int, float] | None) -> str:
    """A table row: cell, framework mean ± std, [study mean ± std on the same seeds, paired difference and its 95%
    CI], seconds per epoch."""
    cells = [cell, mean_std(list(ours.values()), digits=2)]
    if study is not None:
        mean, low, high, n = paired_effect(ours, study)
        cells += [
            mean_std([study[s] for s in sorted(ours.keys() & study.keys())], digits=2),
            f"{100 * mean:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}] (n={n})" if n else "–",
        ]
    return "| " + " | ".join(cells + [f"{seconds:.3f}"]) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--cell",
        action=options.Distinct,
        nargs="+",
        required=True,
        metavar="CELL",
        help=f"one or more of {', '.join(FACTORIAL_CELLS)}, each once, or all",
    )
    parser.add_argument("--rounds", type=options.seed_count, default=1, help="seeds 0..N-1")
    parser.add_argument("--epochs", type=options.integer(1), help="override the recipe's max_epochs")
    parser.add_argument("--study", type=Path, help="a benchmark results file (JSONL) to compare with, seed by seed")
    args = parser.parse_args(argv)
    cells = FACTORIAL_CELLS if args.cell == ["all"] else args.cell
    if args.study and not args.study.is_file():
        raise InputError(
            f"--study {args.study} is not a file; give a benchmark results file (JSONL) holding the "
            f"fixed recipes, e.g. from `python benchmark.py --configs 'fixed/*' --results {args.study}`"
        )
    recipes = {cell: recipe(cell) for cell in cells}
    study = {cell: study_accuracies(args.study, cell) for cell in cells} if args.study else None
    rows = []
    with without_autograd():
        for cell, config in recipes.items():
            epochs = args.epochs or config["epochs"]
            accuracies, seconds = {}, []
            for seed in range(args.rounds):
                accuracies[seed], epoch_seconds = run(config, seed, epochs)
                seconds.append(epoch_seconds)
                print(
                    f"{cell} seed {seed}: test accuracy {100 * accuracies[seed]:.2f}%  "
                    f"(epochs: {epochs}, {epoch_seconds:.3f} s/epoch)",
                    flush=True,
                )
            rows.append(summary(cell, accuracies, statistics.mean(seconds), study[cell] if study else None))
    compared = ["Lightning study", "framework − study [95% CI]"] if study else []
    header = ["cell", "framework", *compared, "s/epoch"]
    print(f"\ntest accuracy %, mean ± std over seeds 0..{args.rounds - 1}, last epoch\n| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1) + "\n" + "\n".join(rows))


if __name__ == "__main__":
    run_main(main)
