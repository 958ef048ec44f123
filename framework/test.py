"""The disk task: 2 -> 25 -> 25 -> 25 -> 2, trained with MSE and SGD, built from the framework alone.

1,000 training and 1,000 test points uniform in [0, 1]^2; label 1 inside the disk of centre (0.5, 0.5) and
radius 1/sqrt(2 pi) (half the square's area). Prints the loss as it trains, then the final train and test
errors (the last epoch's model; the test set chooses nothing).

    python framework/test.py [--seed 0] [--outputs 1] [--epochs 300] ...
"""

import argparse
import math
import time

import torch

from common import options
from common.errors import run_main
from framework import SGD, Linear, LossMSE, ReLU, Sequential, Sigmoid, Tanh
from framework.exercises.experiment import accuracy, train_epoch, without_autograd

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
OUTPUT_ACTIVATIONS = {"none": None, "sigmoid": Sigmoid, "tanh": Tanh}


def generate_disc_set(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform in [0,1]^2 and their labels (1 inside the disk)."""
    x = torch.empty(n, 2).uniform_(0, 1, generator=generator)
    return x, ((x - 0.5).pow(2).sum(1) < 1 / (2 * math.pi)).long()


def build(
    outputs: int, activation: str, generator: torch.Generator, output_activation: str = "none", dtype=None
) -> Sequential:
    """The spec's network: 2 inputs, three hidden layers of 25 units, `outputs` outputs, and optionally an
    activation on the outputs (the sigmoid of the project 1 write-up)."""
    act, last = ACTIVATIONS[activation], OUTPUT_ACTIVATIONS[output_activation]
    sizes = [2, 25, 25, 25]
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (Linear(a, b, dtype=dtype, generator=generator), act())]
    head = Linear(25, outputs, dtype=dtype, generator=generator)
    return Sequential(*layers, head, *([last()] if last else []))


def targets(labels: torch.Tensor, outputs: int) -> torch.Tensor:
    """MSE targets: one-hot for two outputs, the label itself for one."""
    return torch.eye(2)[labels] if outputs == 2 else labels.float().view(-1, 1)


def train(
    model,
    x,
    labels,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    generator,
    log_every: int = 0,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> None:
    """Mini-batch SGD on MSE, reshuffled every epoch; every `log_every` epochs (and at the last) logs the mean
    epoch loss and the training accuracy, and the test accuracy when `test` is given (logged only: the last
    epoch's model is the one reported, whatever these say)."""
    loss, optimizer = LossMSE(), SGD(model.param(), lr=lr, momentum=momentum)
    outputs = next(m.out_features for m in reversed(model.modules) if isinstance(m, Linear))
    y = targets(labels, outputs)
    for epoch in range(1, epochs + 1):
        mean_loss, train_acc = train_epoch(model, loss, optimizer, x, y, batch_size, generator, labels)
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            test_acc = f"  test acc {100 * accuracy(model, *test):.2f}%" if test else ""
            print(f"epoch {epoch:4d}  loss {mean_loss:.5f}  train acc {100 * train_acc:.2f}%{test_acc}")


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--seed", type=options.seed, default=0, help="the first round's seed")
    parser.add_argument("--outputs", type=int, choices=(1, 2), default=2, help="2 (one-hot) or 1 output unit")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu", help="of the hidden layers")
    parser.add_argument(
        "--output-activation",
        choices=sorted(OUTPUT_ACTIVATIONS),
        default="none",
        help="on the output layer (default none: the spec's linear outputs)",
    )
    parser.add_argument("--epochs", type=options.integer(1), default=600, help="epochs of each round")
    parser.add_argument("--batch-size", type=options.integer(1), default=20, help="SGD's mini-batch size")
    parser.add_argument("--lr", type=options.number(options.POSITIVE), default=0.05, help="SGD's learning rate")
    parser.add_argument("--momentum", type=options.number(options.FRACTION), default=0, help="SGD's momentum")
    parser.add_argument(
        "--log-every",
        type=options.integer(0),
        default=50,
        help="epochs between lines of loss, training and test accuracy (0: none)",
    )
    parser.add_argument(
        "--rounds", type=options.seed_count, default=1, help="seeds seed..seed+rounds-1, then mean and std"
    )
    args = parser.parse_args(argv)
    if not options.SEEDS.holds(args.seed + args.rounds - 1):
        parser.error(
            f"--seed {args.seed} --rounds {args.rounds} reach seed {args.seed + args.rounds - 1}: "
            f"every seed must be an integer {options.SEEDS}"
        )
    with without_autograd():
        errors = [run(args, seed) for seed in range(args.seed, args.seed + args.rounds)]
    if args.rounds > 1:
        test = torch.tensor([e[1] for e in errors])
        print(
            f"{args.rounds} rounds: test error {test.mean():.2f}% +- {test.std():.2f}% "
            f"(train {sum(e[0] for e in errors) / args.rounds:.2f}%)"
        )


def run(args: argparse.Namespace, seed: int) -> tuple[float, float]:
    """One round: fresh data and weights from `seed`; returns train and test error in percent."""
    generator = torch.Generator().manual_seed(seed)
    (train_x, train_labels), (test_x, test_labels) = (
        generate_disc_set(1000, generator),
        generate_disc_set(1000, generator),
    )
    mean, std = train_x.mean(0), train_x.std(0)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    model = build(args.outputs, args.activation, generator, args.output_activation)
    start = time.perf_counter()
    train(
        model,
        train_x,
        train_labels,
        args.epochs,
        args.batch_size,
        args.lr,
        args.momentum,
        generator,
        args.log_every,
        (test_x, test_labels),
    )
    train_error, test_error = (
        100 * (1 - accuracy(model, x, labels)) for x, labels in ((train_x, train_labels), (test_x, test_labels))
    )
    print(
        f"seed {seed}: train error {train_error:.2f}%  test error {test_error:.2f}%  "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return train_error, test_error


if __name__ == "__main__":
    run_main(main)
