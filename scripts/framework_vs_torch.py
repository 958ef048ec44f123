"""The same network trained by the framework and by torch.nn + autograd, side by side.

Same initial weights, same batches in the same order, same SGD, over --seeds seeds, on the disk task
(framework/test.py's network and defaults) and on MNIST with configs/framework/two_layer.yaml.

    MNIST_DIR=../shared/mnist python scripts/framework_vs_torch.py [--seeds 10] [--out runs/framework/versus]

Writes loss curves (mean ± std over seeds) and decision boundaries on the disk, and prints a table of final
errors, time per epoch, and the largest gap between the two loss curves.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import matplotlib
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from framework import SGD, CrossEntropy, LossMSE  # noqa: E402
from framework import test as disk  # noqa: E402
from framework.exercises import mnist as framework_mnist  # noqa: E402
from framework.exercises.experiment import batches, train_epoch  # noqa: E402
from framework.exercises.figures import decision_regions  # noqa: E402
from scripts.twin import decay_groups, torch_twin  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def torch_epoch(model, loss, optimizer, x, y, batch_size: int, generator) -> float:
    """torch's twin of framework.exercises.experiment.train_epoch: the same batches from an identically seeded generator."""
    total = 0.0
    for index in batches(len(x), batch_size, generator):
        optimizer.zero_grad()
        value = loss(model(x[index]), y[index])
        value.backward()
        optimizer.step()
        total += value.item() * len(index)
    return total / len(x)


def compare(task, seed: int) -> dict:
    """Train both from the same initial weights on the same batches; loss curves, errors and epoch times."""
    g = torch.Generator().manual_seed(seed)
    (x, y, labels), (test_x, test_labels), model, setup = task(g)
    twin = torch_twin(model)
    ours_loss, theirs_loss, lr, momentum, decay, epochs, batch_size = setup
    ours = SGD(model.param(), lr=lr, momentum=momentum, weight_decay=decay)
    theirs = torch.optim.SGD(decay_groups(twin, decay), lr=lr, momentum=momentum)
    state = g.get_state()
    curves, seconds = {"framework": [], "torch": []}, {"framework": 0.0, "torch": 0.0}
    g_ours, g_theirs = torch.Generator(), torch.Generator()
    g_ours.set_state(state), g_theirs.set_state(state)
    for _ in range(epochs):
        start = time.perf_counter()
        with torch.no_grad():
            curves["framework"].append(train_epoch(model, ours_loss, ours, x, y, batch_size, g_ours, labels)[0])
        seconds["framework"] += time.perf_counter() - start
        start = time.perf_counter()
        curves["torch"].append(torch_epoch(twin, theirs_loss, theirs, x, y, batch_size, g_theirs))
        seconds["torch"] += time.perf_counter() - start
    with torch.no_grad():
        predict = {"framework": model.forward, "torch": twin}
        errors = {name: {split: (f(xs).argmax(1) != ls).float().mean().item()
                         for split, xs, ls in (("train", x, labels), ("test", test_x, test_labels))}
                  for name, f in predict.items()}
    return {"curves": curves, "errors": errors, "epoch_seconds": {k: v / epochs for k, v in seconds.items()},
            "models": predict, "test": (test_x, test_labels)}


def disk_task(g):
    (x, labels), (test_x, test_labels) = disk.generate_disc_set(1000, g), disk.generate_disc_set(1000, g)
    mean, std = x.mean(0), x.std(0)
    x, test_x = (x - mean) / std, (test_x - mean) / std
    model = disk.build(2, "relu", g)
    return (x, disk.targets(labels, 2), labels), (test_x, test_labels), model, \
        (LossMSE(), torch.nn.MSELoss(), 0.05, 0.0, 0.0, 600, 20)


def mnist_task(g):
    config = framework_mnist.load_config(Path("configs/framework/two_layer.yaml"), [])
    (x, labels), _, (test_x, test_labels) = framework_mnist.split(config["data_dir"], config["val_fraction"])
    model = framework_mnist.build(config, g)
    return (x, labels, labels), (test_x, test_labels), model, \
        (CrossEntropy(), torch.nn.CrossEntropyLoss(), config["lr"], config["momentum"], config["reg"],
         config["epochs"], config["batch_size"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", nargs="+", choices=("disk", "mnist"), default=["disk", "mnist"])
    parser.add_argument("--out", type=Path, default=Path("runs/framework/versus"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(args.tasks), figsize=(6 * len(args.tasks), 4), squeeze=False)
    print("| task | framework train / test error % | torch train / test error % | framework / torch s per epoch | "
          "largest loss-curve gap |\n|---|---:|---:|---:|---:|")
    for ax, name in zip(axes[0], args.tasks):
        runs = [compare({"disk": disk_task, "mnist": mnist_task}[name], seed) for seed in range(args.seeds)]
        gap = max(abs(a - b) for r in runs for a, b in zip(r["curves"]["framework"], r["curves"]["torch"]))
        cells = []
        for who, color in (("framework", "tab:blue"), ("torch", "tab:orange")):
            curves = torch.tensor([r["curves"][who] for r in runs])
            mean, std = curves.mean(0), curves.std(0) if len(runs) > 1 else torch.zeros(curves.shape[1])
            epochs = torch.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, mean, color=color, ls="-" if who == "framework" else "--", label=who)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
            errors = {split: [100 * r["errors"][who][split] for r in runs] for split in ("train", "test")}
            cells.append(" / ".join(f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f}"
                                    for v in errors.values()))
        speed = " / ".join(f"{1000 * statistics.mean(r['epoch_seconds'][who] for r in runs):.0f} ms" for who in ("framework", "torch"))
        print(f"| {name} | {cells[0]} | {cells[1]} | {speed} | {gap:.2e} |")
        ax.set(xlabel="epoch", ylabel="mean training loss", yscale="log",
               title=f"{name}: mean ± std over {args.seeds} seeds (largest gap {gap:.1e})")
        ax.legend()
        if name == "disk":
            bfig, baxes = plt.subplots(1, 2, figsize=(8, 4))
            for bax, who in zip(baxes, ("framework", "torch")):
                with torch.no_grad():
                    decision_regions(bax, lambda points: runs[0]["models"][who](points).argmax(1), *runs[0]["test"],
                                     f"{who}, seed 0: test error {100 * runs[0]['errors'][who]['test']:.1f}%")
            bfig.suptitle("decision regions on the standardised disk task; dots: test points, true class")
            bfig.tight_layout()
            bfig.savefig(args.out / "disk_boundaries.png", dpi=110)
    fig.tight_layout()
    fig.savefig(args.out / "loss_curves.png", dpi=110)
    print(f"figures: {args.out / 'loss_curves.png'}, {args.out / 'disk_boundaries.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
