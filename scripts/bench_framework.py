"""Training-epoch time of the hand-written framework against torch.nn + autograd, at one thread.

1. The spec's MLP (2 -> 25 -> 25 -> 25 -> 2, ReLU, MSE, SGD) of framework/test.py and its torch.nn twin with the
   same initial weights (scripts/twin.py), on the 1,000 disk points, at several batch sizes.
2. The study's cells (default: the MLP trunk and the CNN trunk, shared, with the auxiliary loss): the framework's
   PairNet (framework.exercises.pairs) and the study's own PairClassifier with the same initial weights, one epoch
   of the fixed recipe (1,000 pairs, batch 100, shuffled, Adam, the study's loss) on random pairs of the study's
   shapes [1000, 2, 14, 14] (the time does not depend on the pixel values; no MNIST needed).

Each: one warm-up epoch, then the median of --repeats epochs for each side, alternating, in one process.

    python scripts/bench_framework.py [--repeats 7] [--cells mlp_aux_shared cnn_aux_shared]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from framework import SGD, Adam, LossMSE  # noqa: E402
from framework import test as disk  # noqa: E402
from framework.exercises import pairs  # noqa: E402
from framework.exercises.experiment import batches  # noqa: E402
from scripts.twin import pair_twin, torch_twin  # noqa: E402


def framework_epoch(model, x, y, batch_size: int) -> None:
    loss, optimizer = LossMSE(), SGD(model.param(), lr=0.01)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            optimizer.zero_grad()
            loss.forward(model.forward(x[start : start + batch_size]), y[start : start + batch_size])
            model.backward(loss.backward())
            optimizer.step()


def torch_epoch(model, x, y, batch_size: int) -> None:
    loss, optimizer = torch.nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01)
    for start in range(0, len(x), batch_size):
        optimizer.zero_grad()
        loss(model(x[start : start + batch_size]), y[start : start + batch_size]).backward()
        optimizer.step()


def pair_epochs(cell: str, generator: torch.Generator):
    """Two functions that each train one epoch of the cell's recipe: the framework's, and torch's on the twin."""
    recipe = pairs.recipe(cell)
    n, batch_size, lr = recipe["data"]["n_pairs"], recipe["data"]["batch_size"], recipe["lr"]
    x, classes = torch.randn(n, 2, 14, 14, generator=generator), torch.randint(0, 10, (n, 2), generator=generator)
    target = (classes[:, 0] <= classes[:, 1]).long()
    model = pairs.build(recipe["model"], generator)
    twin, loss = pair_twin(model, recipe["model"]), pairs.pair_loss(recipe["model"]["aux_weight"])
    ours, theirs = Adam(model.param(), lr=lr), torch.optim.Adam(twin.parameters(), lr=lr)

    def framework() -> None:
        with torch.no_grad():
            pairs.train_epoch(model, loss, ours, x, target, classes, batch_size, generator)

    def autograd() -> None:
        for index in batches(n, batch_size, generator):
            theirs.zero_grad()
            value = twin.loss(*twin(x[index]), target[index], classes[index])
            value.backward()
            theirs.step()
            value.item()  # as the framework's epoch reads each batch's loss

    return framework, autograd


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def race(ours, theirs, repeats: int) -> tuple[float, float]:
    """Median seconds of `repeats` calls of each (no arguments), alternating, after one warm-up call of each."""
    ours(), theirs()
    times = [(timed(ours), timed(theirs)) for _ in range(repeats)]
    return statistics.median(a for a, _ in times), statistics.median(b for _, b in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cells", nargs="*", default=["mlp_aux_shared", "cnn_aux_shared"], metavar="CELL",
                        help="study cells to time (none: the disk MLP only)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x, labels = disk.generate_disc_set(1000, generator)
    y = disk.targets(labels, 2)
    ours = disk.build(2, "relu", generator)
    theirs = torch_twin(ours)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats} epochs\n")
    print("The disk MLP, 1,000 points:\n")
    print("| batch | framework (ms/epoch) | torch.nn + autograd (ms/epoch) | framework / torch |")
    print("|---:|---:|---:|---:|")
    for batch_size in (1, 10, 100, 1000):
        a, b = race(lambda: framework_epoch(ours, x, y, batch_size), lambda: torch_epoch(theirs, x, y, batch_size),
                    args.repeats)
        print(f"| {batch_size} | {1000 * a:.2f} | {1000 * b:.2f} | {a / b:.2f} |")
    if args.cells:
        print("\nThe study's fixed recipes, 1,000 pairs, batch 100, Adam (torch: the study's PairClassifier):\n")
        print("| cell | framework (ms/epoch) | torch.nn + autograd (ms/epoch) | framework / torch |")
        print("|---|---:|---:|---:|")
    for cell in args.cells:
        try:
            a, b = race(*pair_epochs(cell, generator), args.repeats)
        except ValueError as e:
            sys.exit(f"error: {e}")
        print(f"| {cell} | {1000 * a:.1f} | {1000 * b:.1f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
