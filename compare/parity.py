"""The same network trained by the framework and by torch.nn + autograd, side by side.

Same initial weights, same batches in the same order, same SGD, over --seeds seeds, on the disk task
(framework/test.py's network and defaults) and on MNIST with configs/framework/two_layer.yaml.

    MNIST_DIR=../shared/mnist python -m compare.parity [--seeds 10] [--out runs/framework/versus]

Writes loss curves (mean ± std over seeds) and decision boundaries on the disk, and prints a table of final
errors, time per epoch, and the largest gap between the two loss curves. Each seed first checks that the two
sides start equal: the same loss and gradients on the first batch (else it exits 1, naming the task).

    MNIST_DIR=../shared/mnist python -m compare.parity --parity cnn_aux_shared [--epochs 25] [--seed 0]

The parity run of the study instead: the cell's PairNet (configs/fixed/<cell>.yaml) and the study's own
PairClassifier in float64, same initial weights, same batches, Adam; prints the largest relative error of every
parameter gradient at step 0 (goal 1e-10) and of the epoch loss curve (goal 1e-6), and exits 1 if one is missed.
"""

import statistics
import sys
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from common import options
from common.equality import check_same
from common.errors import run_main
from common.stats import mean_std
from compare import by_hand
from compare.twin import decay_groups, pair_twin, torch_twin
from framework import SGD, Adam, CrossEntropy, LossMSE
from framework import test as disk
from framework.exercises import mnist as framework_mnist
from framework.exercises.experiment import batches, train_epoch
from framework.exercises.figures import decision_regions

GOALS = {"gradient": 1e-10, "loss": 1e-6}  # largest relative errors allowed in the parity run


def torch_epoch(model, loss, optimizer, x, y, batch_size: int, generator) -> float:
    """torch's twin of framework.exercises.experiment.train_epoch: the same batches from an identically seeded
    generator."""
    total = 0.0
    for index in batches(len(x), batch_size, generator):
        optimizer.zero_grad()
        value = loss(model(x[index]), y[index])
        value.backward()
        optimizer.step()
        total += value.item() * len(index)
    return total / len(x)


def compare(task, seed: int, epochs: int | None = None) -> dict:
    """Train both from the same initial weights on the same batches; loss curves, errors and epoch times."""
    g = torch.Generator().manual_seed(seed)
    (x, y, labels), (test_x, test_labels), model, setup = task(g)
    twin = torch_twin(model)
    ours_loss, theirs_loss, lr, momentum, decay, task_epochs, batch_size = setup
    epochs = epochs or task_epochs
    with torch.no_grad():
        out = model.forward(x)
        check_same(
            [out, ours_loss.forward(out, y).reshape(1)],
            [twin(x), theirs_loss(twin(x), y).reshape(1)],
            1e-4,
            f"seed {seed}: the initial outputs and loss of the framework and torch",
        )
    ours = SGD(model.param(), lr=lr, momentum=momentum, weight_decay=decay)
    theirs = torch.optim.SGD(decay_groups(twin, decay), lr=lr, momentum=momentum)
    state = g.get_state()
    curves: dict[str, list[float]] = {"framework": [], "torch": []}
    seconds = {"framework": 0.0, "torch": 0.0}
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
        errors = {
            name: {
                split: (f(xs).argmax(1) != ls).float().mean().item()
                for split, xs, ls in (("train", x, labels), ("test", test_x, test_labels))
            }
            for name, f in predict.items()
        }
    return {
        "curves": curves,
        "errors": errors,
        "epoch_seconds": {k: v / epochs for k, v in seconds.items()},
        "models": predict,
        "test": (test_x, test_labels),
    }


def disk_task(g):
    (x, labels), (test_x, test_labels) = disk.generate_disc_set(1000, g), disk.generate_disc_set(1000, g)
    mean, std = x.mean(0), x.std(0)
    x, test_x = (x - mean) / std, (test_x - mean) / std
    model = disk.build(2, "relu", g)
    return (
        (x, disk.targets(labels, 2), labels),
        (test_x, test_labels),
        model,
        (LossMSE(), torch.nn.MSELoss(), 0.05, 0.0, 0.0, 600, 20),
    )


def mnist_task(g):
    config = framework_mnist.load_config(Path("configs/framework/two_layer.yaml"), [])
    (x, labels), _ = framework_mnist.split(*framework_mnist.images("train", config["data_dir"]), config["val_fraction"])
    test_x, test_labels = framework_mnist.images("test", config["data_dir"])
    model = framework_mnist.build(config, g)
    return (
        (x, labels, labels),
        (test_x, test_labels),
        model,
        (
            CrossEntropy(),
            torch.nn.CrossEntropyLoss(),
            config["lr"],
            config["momentum"],
            config["reg"],
            config["epochs"],
            config["batch_size"],
        ),
    )


def relative_error(ours: torch.Tensor, theirs: torch.Tensor | None) -> float:
    """max |ours - theirs| / max |theirs|; `theirs` is a gradient autograd must have filled."""
    assert theirs is not None, "torch left a parameter without a gradient"
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def pair_parity(cell: str, epochs: int | None, seed: int) -> dict:
    """The cell's PairNet and the study's PairClassifier in float64 from the same weights, trained on the same
    batches with Adam: each parameter's relative gradient error at step 0, and both epoch loss curves."""
    recipe = by_hand.recipe(cell)
    data, model_args, batch_size = recipe["data"], recipe["model"], recipe["data"]["batch_size"]
    (x, target, classes), _ = by_hand.standardised_pairs(data["n_pairs"], seed, data["data_dir"], torch.float64)
    model = by_hand.build(model_args, torch.Generator().manual_seed(seed), torch.float64)
    twin, loss = pair_twin(model, model_args), by_hand.pair_loss(model_args["aux_weight"])
    first = batches(len(x), batch_size, torch.Generator().manual_seed(seed))[0]
    with torch.no_grad():
        loss.forward(model.forward(x[first]), (target[first], classes[first].reshape(-1)))
        model.backward(*loss.backward())
    logits, digits = twin(x[first])
    twin.loss(logits, digits, target[first], classes[first]).backward()
    gradients = [relative_error(g, p.grad) for (_, g), p in zip(model.param(), twin.net.parameters(), strict=True)]
    ours, theirs = Adam(model.param(), lr=recipe["lr"]), torch.optim.Adam(twin.parameters(), lr=recipe["lr"])
    y = torch.cat([target.view(-1, 1), classes], 1)  # what torch_epoch hands the study's loss, batch by batch
    twin_loss = lambda out, y: twin.loss(out[0], out[1], y[:, 0], y[:, 1:])
    curves: dict[str, list[float]] = {"framework": [], "torch": []}
    g_ours, g_theirs = (torch.Generator().manual_seed(seed) for _ in range(2))  # the same batches on both sides
    for _ in range(epochs or recipe["epochs"]):
        with torch.no_grad():
            values = by_hand.train_epoch(model, loss, ours, x, target, classes, batch_size, g_ours)
        curves["framework"].append(statistics.fmean(values))
        curves["torch"].append(torch_epoch(twin, twin_loss, theirs, x, y, batch_size, g_theirs))
    return {"gradients": gradients, "curves": curves}


def report_parity(cell: str, epochs: int | None, seed: int) -> bool:
    """Print the parity run's table and verdicts; whether both goals are met."""
    result = pair_parity(cell, epochs, seed)
    curves = {who: torch.tensor(c, dtype=torch.float64) for who, c in result["curves"].items()}
    gaps = ((curves["framework"] - curves["torch"]).abs() / curves["torch"].abs()).tolist()
    print(f"{cell}, seed {seed}, float64: the framework against the study's PairClassifier\n")
    print("| epoch | framework loss | torch loss | relative gap |\n|---:|---:|---:|---:|")
    for epoch, (a, b, gap) in enumerate(zip(result["curves"]["framework"], result["curves"]["torch"], gaps), 1):
        print(f"| {epoch} | {a:.12f} | {b:.12f} | {gap:.1e} |")
    worst = {"gradient": max(result["gradients"]), "loss": max(gaps)}
    for name, what in (
        ("gradient", f"step-0 gradient of {len(result['gradients'])} parameter tensors"),
        ("loss", f"epoch loss over {len(gaps)} epochs"),
    ):
        verdict = "met" if worst[name] <= GOALS[name] else "MISSED"
        print(f"largest relative error, {what}: {worst[name]:.1e} (goal <= {GOALS[name]:g}: {verdict})")
    return all(worst[name] <= GOALS[name] for name in GOALS)


def main(argv: list[str] | None = None) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--seeds", type=options.seed_count, default=10, help="seeds 0..N-1 of each task")
    parser.add_argument(
        "--tasks",
        action=options.Distinct,
        nargs="+",
        choices=("disk", "mnist"),
        default=["disk", "mnist"],
        help="each once, a column each",
    )
    parser.add_argument(
        "--out", type=options.output_folder, default="runs/framework/versus", help="folder of the two figures"
    )
    parser.add_argument("--parity", metavar="CELL", help="run the study's float64 parity run for this cell instead")
    parser.add_argument(
        "--epochs",
        type=options.integer(1),
        help="epochs of every run (default: each task's own; with --parity, the cell's fixed recipe)",
    )
    parser.add_argument("--seed", type=options.seed, default=0, help="--parity: the round's seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.parity:
        if not report_parity(args.parity, args.epochs, args.seed):
            sys.exit(1)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6 * len(args.tasks), 4))
    axes = fig.subplots(1, len(args.tasks), squeeze=False)
    print(
        "| task | framework train / test error % | torch train / test error % | framework / torch s per epoch | "
        "largest loss-curve gap |\n|---|---:|---:|---:|---:|"
    )
    for ax, name in zip(axes[0], args.tasks):
        runs = [
            compare({"disk": disk_task, "mnist": mnist_task}[name], seed, args.epochs) for seed in range(args.seeds)
        ]
        gap = max(abs(a - b) for r in runs for a, b in zip(r["curves"]["framework"], r["curves"]["torch"]))
        cells = []
        for who, color in (("framework", "tab:blue"), ("torch", "tab:orange")):
            curves = torch.tensor([r["curves"][who] for r in runs])
            mean, std = curves.mean(0), curves.std(0) if len(runs) > 1 else torch.zeros(curves.shape[1])
            epochs = torch.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, mean, color=color, ls="-" if who == "framework" else "--", label=who)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
            errors = {split: [100 * r["errors"][who][split] for r in runs] for split in ("train", "test")}
            cells.append(" / ".join(mean_std(v, scale=1.0, digits=2) for v in errors.values()))
        speed = " / ".join(
            f"{1000 * statistics.mean(r['epoch_seconds'][who] for r in runs):.0f} ms" for who in ("framework", "torch")
        )
        print(f"| {name} | {cells[0]} | {cells[1]} | {speed} | {gap:.2e} |")
        ax.set(
            xlabel="epoch",
            ylabel="mean training loss",
            yscale="log",
            title=f"{name}: mean ± std over {args.seeds} seeds (largest gap {gap:.1e})",
        )
        ax.legend()
        if name == "disk":
            bfig = Figure(figsize=(8, 4))
            baxes = bfig.subplots(1, 2)
            for bax, who in zip(baxes, ("framework", "torch")):
                with torch.no_grad():
                    decision_regions(
                        bax,
                        lambda points: runs[0]["models"][who](points).argmax(1),
                        runs[0]["test"][0],
                        runs[0]["test"][1],
                        f"{who}, seed 0: test error {100 * runs[0]['errors'][who]['test']:.1f}%",
                    )
            bfig.suptitle("decision regions on the standardised disk task; dots: test points, true class")
            bfig.tight_layout()
            bfig.savefig(args.out / "disk_boundaries.png", dpi=110)
    fig.tight_layout()
    fig.savefig(args.out / "loss_curves.png", dpi=110)
    print(f"figures: {args.out / 'loss_curves.png'}, {args.out / 'disk_boundaries.png'}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
