"""Training-epoch time of the hand-written framework against torch.nn + autograd, at one thread.

1. The spec's MLP (2 -> 25 -> 25 -> 25 -> 2, ReLU, MSE, SGD) of framework/test.py and its torch.nn twin with the
   same initial weights (compare/twin.py), on the 1,000 disk points, at several batch sizes.
2. The study's cells (default: the MLP trunk and the CNN trunk, shared, with the auxiliary loss): the framework's
   PairNet (compare/by_hand.py) and the study's own PairClassifier with the same initial weights, one epoch
   of the fixed recipe (1,000 pairs, batch 100, shuffled, Adam, the study's loss) on random pairs of the study's
   shapes [1000, 2, 14, 14] (the time does not depend on the pixel values; no MNIST needed).

Each: first one epoch of each side in float64 from the same weights, after which both must hold the same weights
(largest difference <= --tolerance; otherwise the script exits 1, as the times would compare different
computations). The check is in float64 so that it holds on any CPU: in float32, another CPU's summation order
flips the sign of near-zero gradients, and each flip moves an Adam step by up to the learning rate; in float64
that rounding sits ~8 orders below Adam's eps. Then the float32 race: one warm-up epoch of each side and the
median of --repeats epochs for each, alternating, in one process.

    python -m compare.speed [--repeats 7] [--cells mlp_aux_shared cnn_aux_shared]
"""

import statistics
import time
from collections.abc import Callable

import torch

from common import options
from common.equality import check_same
from common.errors import run_main
from compare import by_hand
from compare.twin import pair_twin, torch_twin
from framework import SGD, Adam, LossMSE
from framework import test as disk
from framework.exercises.experiment import batches
from pairs.data import DIGIT_SIZE, target


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


Race = tuple[Callable[[], None], Callable[[], None], Callable[[], list[tuple[torch.Tensor, torch.Tensor]]]]


def disk_epochs(batch_size: int, dtype: torch.dtype) -> Race:
    """One epoch of the disk MLP on each side, in `dtype`, and the pairs of their parameters."""
    generator = torch.Generator().manual_seed(0)
    x, labels = disk.generate_disc_set(1000, generator)
    x, y = x.to(dtype), disk.targets(labels, 2).to(dtype)
    ours = disk.build(2, "relu", generator, dtype=dtype)
    theirs = torch_twin(ours)
    return (
        lambda: framework_epoch(ours, x, y, batch_size),
        lambda: torch_epoch(theirs, x, y, batch_size),
        lambda: list(zip([p for p, _ in ours.param()], theirs.parameters(), strict=True)),
    )


def pair_epochs(cell: str, dtype: torch.dtype) -> Race:
    """One epoch of the cell's recipe on each side, in `dtype`, the framework's and torch's on the twin, each drawing
    its batch orders from its own copy of one generator (so both see the same batches), and the pairs of their
    parameters."""
    generator = torch.Generator().manual_seed(0)
    recipe = by_hand.recipe(cell)
    n, batch_size, lr = recipe["data"]["n_pairs"], recipe["data"]["batch_size"], recipe["lr"]
    x = torch.randn(n, 2, DIGIT_SIZE, DIGIT_SIZE, generator=generator, dtype=dtype)
    classes = torch.randint(0, 10, (n, 2), generator=generator)
    targets = target(classes)
    model = by_hand.build(recipe["model"], generator, dtype)
    twin, loss = pair_twin(model, recipe["model"]), by_hand.pair_loss(recipe["model"]["aux_weight"])
    ours, theirs = Adam(model.param(), lr=lr), torch.optim.Adam(twin.parameters(), lr=lr)
    state = generator.get_state()
    g_ours, g_theirs = torch.Generator(), torch.Generator()
    g_ours.set_state(state), g_theirs.set_state(state)

    def framework() -> None:
        with torch.no_grad():
            by_hand.train_epoch(model, loss, ours, x, targets, classes, batch_size, g_ours)

    def autograd() -> None:
        for index in batches(n, batch_size, g_theirs):
            theirs.zero_grad()
            logits, digits = twin(x[index])
            value = twin.loss(logits, digits, targets[index], classes[index])
            value.backward()
            theirs.step()
            value.item()  # as the framework's epoch reads each batch's loss

    return framework, autograd, lambda: list(zip([p for p, _ in model.param()], twin.net.parameters(), strict=True))


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def agree(sides: Race, tolerance: float, what: str) -> float:
    """One call of each side, which must leave both with the same parameters; the largest difference."""
    ours, theirs, parameters = sides
    ours(), theirs()
    mine, twins = zip(*parameters())
    return check_same(mine, twins, tolerance, f"{what}: the parameters after one epoch")


def race(sides: Race, repeats: int) -> tuple[float, float]:
    """Median seconds of `repeats` calls of each side, alternating, after one warm-up call of each."""
    ours, theirs, _ = sides
    ours(), theirs()
    times = [(timed(ours), timed(theirs)) for _ in range(repeats)]
    return statistics.median(a for a, _ in times), statistics.median(b for _, b in times)


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--repeats", type=options.integer(1), default=7, help="timed epochs of each side")
    parser.add_argument(
        "--tolerance",
        type=options.number(options.POSITIVE),
        default=1e-9,
        help="largest parameter difference allowed after one float64 epoch of each side",
    )
    parser.add_argument(
        "--cells",
        action=options.Distinct,
        nargs="*",
        default=["mlp_aux_shared", "cnn_aux_shared"],
        metavar="CELL",
        help="study cells to time, each once (none: the disk MLP only)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats} float32 epochs; each side first agrees")
    print(f"with the other after one float64 epoch, to within {args.tolerance:g}\n")
    print("The disk MLP, 1,000 points:\n")
    print("| batch | framework (ms/epoch) | torch.nn + autograd (ms/epoch) | framework / torch |")
    print("|---:|---:|---:|---:|")
    for batch_size in (1, 10, 100, 1000):
        agree(disk_epochs(batch_size, torch.float64), args.tolerance, f"disk, batch {batch_size}")
        a, b = race(disk_epochs(batch_size, torch.float32), args.repeats)
        print(f"| {batch_size} | {1000 * a:.2f} | {1000 * b:.2f} | {a / b:.2f} |")
    if args.cells:
        print("\nThe study's fixed recipes, 1,000 pairs, batch 100, Adam (torch: the study's PairClassifier):\n")
        print("| cell | framework (ms/epoch) | torch.nn + autograd (ms/epoch) | framework / torch |")
        print("|---|---:|---:|---:|")
    for cell in args.cells:
        agree(pair_epochs(cell, torch.float64), args.tolerance, cell)
        a, b = race(pair_epochs(cell, torch.float32), args.repeats)
        print(f"| {cell} | {1000 * a:.1f} | {1000 * b:.1f} | {a / b:.2f} |")


if __name__ == "__main__":
    run_main(main)
