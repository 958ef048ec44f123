"""Toy classification sets with a softmax objective: a linear classifier against a small tanh network.

    python -m framework.exercises.toys [--datasets disk gaussians swiss_roll peaks] [--seeds 5] [--epochs 300]

For each data set and seed: fresh data (1,000 training and 1,000 test points) and fresh weights; SGD on
softmax cross-entropy; the last epoch is evaluated. Prints mean ± std test accuracy and saves the decision
regions of seed 0 as a PNG.
"""

import math
import sys
from collections.abc import Callable

import torch
from matplotlib.figure import Figure

from common import options
from common.errors import run_main
from common.stats import mean_std
from framework import SGD, CrossEntropy, Linear, Sequential, Tanh
from framework.exercises.experiment import accuracy, predict, train_epoch, without_autograd
from framework.exercises.figures import decision_regions
from framework.test import generate_disc_set


def gaussians(n: int, g: torch.Generator, classes: int = 5, radius: float = 2.5, std: float = 0.5):
    """A mixture of `classes` isotropic Gaussians with means evenly spaced on a circle."""
    labels = torch.randint(0, classes, (n,), generator=g)
    angle = 2 * math.pi * labels.float() / classes
    means = radius * torch.stack([angle.cos(), angle.sin()], 1)
    return means + std * torch.randn(n, 2, generator=g), labels


def spread_means(count: int, features: int, seed: int, scale: float = 2.0, min_distance: float = 3.0) -> torch.Tensor:
    """`count` points [count, features] drawn from N(0, scale^2 I), each kept only if at least `min_distance` from
    every point kept before it."""
    g = torch.Generator().manual_seed(seed)
    means: list[torch.Tensor] = []
    while len(means) < count:
        mean = scale * torch.randn(features, generator=g)
        if all((mean - kept).norm() >= min_distance for kept in means):
            means.append(mean)
    return torch.stack(means)


GMM_CLASSES = 5
GMM_MEANS = spread_means(3 * GMM_CLASSES, 5, seed=3)  # fixed, as the course's mixture is: 3 components per class


def interleaved_gmm(n: int, g: torch.Generator, std: float = 0.6):
    """5 classes in 5-D, each a mixture of 3 Gaussians among the other classes' (component j belongs to class
    j mod 5): not linearly separable, unlike `gaussians`."""
    component = torch.randint(0, len(GMM_MEANS), (n,), generator=g)
    return GMM_MEANS[component] + std * torch.randn(n, GMM_MEANS.shape[1], generator=g), component % GMM_CLASSES


def swiss_roll(n: int, g: torch.Generator, turns: float = 1.5, noise: float = 0.2):
    """Two interleaved spiral arms (a 2-D Swiss roll), one per class."""
    labels = torch.randint(0, 2, (n,), generator=g)
    t = (0.25 + 0.75 * torch.rand(n, generator=g)) * 2 * math.pi * turns
    angle = t + math.pi * labels.float()
    x = t.unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], 1) + noise * torch.randn(n, 2, generator=g)
    return x / (2 * math.pi * turns), labels


def peaks_function(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's peaks(x, y), a smooth surface with three maxima and two minima."""
    a, b = x[:, 0], x[:, 1]
    return (
        3 * (1 - a) ** 2 * torch.exp(-(a**2) - (b + 1) ** 2)
        - 10 * (a / 5 - a**3 - b**5) * torch.exp(-(a**2) - b**2)
        - torch.exp(-((a + 1) ** 2) - b**2) / 3
    )


GRID = torch.cartesian_prod(torch.linspace(-3, 3, 300), torch.linspace(-3, 3, 300))
PEAK_LEVELS = peaks_function(GRID).quantile(torch.tensor([0.2, 0.4, 0.6, 0.8]))  # 5 bands of equal area


def peaks(n: int, g: torch.Generator):
    """Points uniform in [-3, 3]^2, labelled by which of 5 equal-area level bands of peaks() they fall in."""
    x = 6 * torch.rand(n, 2, generator=g) - 3
    return x, torch.bucketize(peaks_function(x), PEAK_LEVELS)


Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
DATASETS: dict[str, tuple[Sampler, int]] = {
    "disk": (generate_disc_set, 2),
    "gaussians": (gaussians, 5),
    "swiss_roll": (swiss_roll, 2),
    "peaks": (peaks, 5),
}


def build(kind: str, classes: int, g: torch.Generator, features: int = 2) -> Sequential:
    """`linear`: features -> classes; `tanh`: features -> 10 -> 7 -> classes with tanh."""
    if kind == "linear":
        return Sequential(Linear(features, classes, generator=g))
    return Sequential(
        Linear(features, 10, generator=g), Tanh(), Linear(10, 7, generator=g), Tanh(), Linear(7, classes, generator=g)
    )


def run(dataset: str, kind: str, seed: int, epochs: int, batch_size: int, lr: float):
    """Train on fresh data and weights from `seed`; returns the model, the standardisation and the test accuracy."""
    generate, classes = DATASETS[dataset]
    g = torch.Generator().manual_seed(seed)
    (x, y), (test_x, test_y) = generate(1000, g), generate(1000, g)
    mean, std = x.mean(0), x.std(0)
    model, loss = build(kind, classes, g), CrossEntropy()
    optimizer = SGD(model.param(), lr=lr)
    for _ in range(epochs):
        train_epoch(model, loss, optimizer, (x - mean) / std, y, batch_size, g)
    return model, (mean, std), (x, y), accuracy(model, (test_x - mean) / std, test_y)


@without_autograd()
def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__)
    parser.add_argument(
        "--datasets",
        action=options.Distinct,
        nargs="+",
        choices=sorted(DATASETS),
        default=list(DATASETS),
        help="each once, a column each",
    )
    parser.add_argument("--seeds", type=options.seed_count, default=5, help="seeds 0..N-1 of each set and model")
    parser.add_argument("--epochs", type=options.integer(1), default=300, help="epochs of each fit")
    parser.add_argument("--batch-size", type=options.integer(1), default=64, help="SGD's mini-batch size")
    parser.add_argument("--lr", type=options.number(options.POSITIVE), default=0.1, help="SGD's learning rate")
    parser.add_argument(
        "--figure", type=options.output_file, default="runs/framework/toys.png", help="the decision regions (PNG)"
    )
    args = parser.parse_args(argv)
    options.check_paths(parser, inputs={}, outputs={"--figure": (args.figure, options.FIGURE)})
    fig = Figure(figsize=(3.2 * len(args.datasets), 6.4))
    axes = fig.subplots(2, len(args.datasets), squeeze=False)
    summary = {}
    print("| data set | linear softmax, test accuracy % | tanh 2-10-7-C, test accuracy % |\n|---|---:|---:|")
    for column, dataset in enumerate(args.datasets):
        cells = []
        for row, kind in enumerate(("linear", "tanh")):
            accuracies = []
            for seed in range(args.seeds):
                model, (mean, scale), (x, y), acc = run(dataset, kind, seed, args.epochs, args.batch_size, args.lr)
                accuracies.append(100 * acc)
                if seed == 0:
                    decision_regions(
                        axes[row, column],
                        lambda points: predict(model, (points - mean) / scale),
                        x[:400],
                        y[:400],
                        f"{dataset}, {kind}: {100 * acc:.1f}%",
                    )
            summary[dataset, kind] = accuracies
            cells.append(mean_std(accuracies, scale=1.0, digits=2))
        print(f"| {dataset} | {cells[0]} | {cells[1]} |", flush=True)
    print()
    fig.suptitle(f"decision regions of seed 0 (test accuracy); mean over {args.seeds} seeds in the table")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"figure: {args.figure}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    run_main(main)
