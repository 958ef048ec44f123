"""Training-epoch time of the hand-written framework against torch.nn + autograd.

The spec's MLP (2 -> 25 -> 25 -> 25 -> 2, ReLU, MSE, SGD) of framework/test.py and its torch.nn twin with the
same initial weights (scripts/twin.py), on the 1,000 disk points; one thread;
one warm-up epoch, then the median of --repeats epochs for each, alternating, in one process.

    python scripts/bench_framework.py [--repeats 7]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from framework import SGD, LossMSE  # noqa: E402
from framework import test as disk  # noqa: E402
from scripts.twin import torch_twin  # noqa: E402


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


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x, labels = disk.generate_disc_set(1000, generator)
    y = disk.targets(labels, 2)
    ours = disk.build(2, "relu", generator)
    theirs = torch_twin(ours)
    print(f"torch {torch.__version__}, 1 thread, 1,000 points, median of {args.repeats} epochs\n")
    print("| batch | framework (ms/epoch) | torch.nn + autograd (ms/epoch) | framework / torch |")
    print("|---:|---:|---:|---:|")
    for batch_size in (1, 10, 100, 1000):
        framework_epoch(ours, x, y, batch_size), torch_epoch(theirs, x, y, batch_size)  # warm-up
        times = {"framework": [], "torch": []}
        for _ in range(args.repeats):
            times["framework"].append(timed(framework_epoch, ours, x, y, batch_size))
            times["torch"].append(timed(torch_epoch, theirs, x, y, batch_size))
        a, b = statistics.median(times["framework"]), statistics.median(times["torch"])
        print(f"| {batch_size} | {1000 * a:.2f} | {1000 * b:.2f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
