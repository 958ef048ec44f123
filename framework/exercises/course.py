"""The Practical-DL assignment 1: Taylor and Jacobian tests, softmax regression, a small tanh network.

    python -m framework.exercises.course -task task1|task3|task6|task7|all [-path DATA_DIR] [--out DIR]

-path DATA_DIR holds the course's GMMData.mat, PeaksData.mat and SwissRollData.mat, each with Yt (features x
samples), Ct (one-hot, classes x samples) and Yv, Cv for validation. Samples x features is read too, and integer
labels 0..classes-1 (a row or a column) as well as one-hot ones; a square matrix is taken the course's way. Integer
labels 1..classes (MATLAB counts from 1) are read as 0..classes-1, with a warning; a class with no training sample
is refused.
Without -path, look-alike sets of the same shapes are generated (the GMM one not linearly separable).
Training standardises the features with the training mean and std.

task1  Taylor test of softmax cross-entropy w.r.t. W, b and x: on the one example x = [1, 2, 3, 4], label 0, and
       on a batch of 64 GMM training samples.
task3  SGD on the one example (50 epochs, lr 0.1); softmax regression on GMM and Peaks (200 epochs, batch 64,
       lr 0.1): accuracy per epoch.
task6  Jacobian test of each layer kind act(W x + b) w.r.t. W, b and x, gradient test of a 2-layer network's loss
       w.r.t. every parameter, the transpose test, and the softmax Jacobian diag(s) - s s^T.
task7  Linear -> 10, tanh, Linear -> 7, tanh, Linear -> classes, softmax cross-entropy (250 epochs, batch 64,
       lr 0.1) on GMM, Peaks and Swiss roll: accuracy per epoch, decision regions of the 2-D sets.

Each task prints its tables and writes CSVs and figures under DIR/<task>/ (default DIR: runs/framework/course).
Taylor tests run in float64 with eps = 2^-1 .. 2^-16; a test passes when its last 4 ratios are 2 +- 0.1 (first
order) and 4 +- 0.2 (second order), or, where the map is linear, the second-order residual is at rounding level.
"""

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io
import torch
from matplotlib.figure import Figure

from common import options
from common.errors import Failure, run_main
from framework import (
    SGD,
    CrossEntropy,
    Linear,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    adjoint_test,
    jacobian,
    taylor_test,
)
from framework.exercises.experiment import accuracy, evaluate, predict, train_epoch, without_autograd, write_csv
from framework.exercises.figures import decision_regions
from framework.exercises.taylor import print_table
from framework.exercises.toys import build, interleaved_gmm, peaks, swiss_roll
from framework.gradcheck import as_function_of, numerical_gradient, ratios

TASKS = ("task1", "task3", "task6", "task7")
FILES = {"GMM": "GMMData.mat", "Peaks": "PeaksData.mat", "SwissRoll": "SwissRollData.mat"}
LOOK_ALIKES = {"GMM": (interleaved_gmm, 5), "Peaks": (peaks, 5), "SwissRoll": (swiss_roll, 2)}
NEEDS = {"task1": ("GMM",), "task3": ("GMM", "Peaks"), "task6": (), "task7": ("GMM", "Peaks", "SwissRoll")}
VARIABLES = ("Yt", "Ct", "Yv", "Cv")
SAMPLES, LR, BATCH = 25_000, 0.1, 64
EPOCHS = {"example": 50, "linear": 200, "tanh": 250}
EXAMPLE_CLASSES = 3
EPSILONS = [0.5**k for k in range(1, 17)]
HALVINGS = 4  # the last HALVINGS ratios decide a Taylor test
F64 = torch.float64


# ---- data ------------------------------------------------------------------------------------------------------


class DataError(Failure):
    """Data that cannot be used; the message names the file, the variable and what was expected."""


class DataSet(NamedTuple):
    """Samples as rows: features x [N, F] float32 and labels [N] int64, the same for validation; the class count."""

    name: str
    x: torch.Tensor
    labels: torch.Tensor
    val_x: torch.Tensor
    val_labels: torch.Tensor
    classes: int


def numeric(path: Path, mat: dict, name: str) -> np.ndarray:
    """The variable `name` of a loaded .mat file as a non-empty 2-D float64 array."""
    value = mat[name]
    if not isinstance(value, np.ndarray) or value.ndim != 2 or value.dtype.kind not in "biuf" or value.size == 0:
        raise DataError(f"{path}: {name} is not a non-empty numeric matrix")
    return value.astype(np.float64)


def decode(c: np.ndarray) -> tuple[np.ndarray, int | None] | None:
    """Labels from c [K, N] (samples as columns): integer labels when K == 1 (no width), one-hot columns otherwise
    (width K); None when c is neither."""
    if c.shape[0] == 1:
        v = c[0]
        return (
            (v.astype(np.int64), None)
            if (np.isfinite(v).all() and (v == np.round(v)).all() and (v >= 0).all())
            else None
        )
    return (c.argmax(0), c.shape[0]) if np.isin(c, (0, 1)).all() and (c.sum(0) == 1).all() else None


def samples(path: Path, mat: dict, features: str, targets: str) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """(x [N, F], labels [N], one-hot width or None) from two variables, in the first orientation that fits:
    features x samples (the course's) or samples x features, either way for the targets too."""
    y, c = numeric(path, mat, features), numeric(path, mat, targets)
    bad = int((~np.isfinite(y)).sum())
    if bad:
        raise DataError(f"{path}: {features} holds {bad} NaN or infinite values; expected finite numbers")
    fits = [(y_axis, c_axis) for y_axis in (1, 0) for c_axis in (1, 0) if y.shape[y_axis] == c.shape[c_axis]]
    if not fits:
        raise DataError(
            f"{path}: {features} is {y.shape[0]}x{y.shape[1]} and {targets} {c.shape[0]}x{c.shape[1]}: "
            f"no common number of samples; expected {features} features x samples and {targets} "
            "classes x samples"
        )
    for y_axis, c_axis in fits:
        decoded = decode(c if c_axis == 1 else c.T)
        if decoded is not None:
            x = y.T if y_axis == 1 else y
            return torch.tensor(x, dtype=torch.float32), torch.from_numpy(decoded[0]), decoded[1]
    raise DataError(
        f"{path}: {targets} is neither one-hot (0 or 1, one 1 per sample) nor integer class labels "
        "(whole numbers >= 0 in a row or a column)"
    )


def read_set(path: Path, name: str) -> DataSet:
    """One course file, checked: Yt, Ct, Yv, Cv present, finite, of agreeing sizes, with usable labels."""
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected the course's {path.name} with variables Yt, Ct, Yv, Cv")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several kinds (ValueError, TypeError, MatReadError) for a foreign file
        raise DataError(f"{path}: not a readable MATLAB .mat file ({' '.join(str(e).split())})") from e
    missing = [v for v in VARIABLES if v not in mat]
    if missing:
        raise DataError(f"{path}: no variable {', '.join(missing)}; expected Yt, Ct, Yv and Cv")
    x, labels, width = samples(path, mat, "Yt", "Ct")
    val_x, val_labels, val_width = samples(path, mat, "Yv", "Cv")
    if x.shape[1] != val_x.shape[1]:
        raise DataError(f"{path}: Yt has {x.shape[1]} features but Yv has {val_x.shape[1]}; expected the same")
    if width and val_width and width != val_width:
        raise DataError(f"{path}: Ct has {width} classes but Cv has {val_width}; expected the same")
    labels, val_labels = from_one(path, {"Ct": (labels, width), "Cv": (val_labels, val_width)})
    classes = max(width or 0, val_width or 0, int(labels.max()) + 1, int(val_labels.max()) + 1)
    if classes < 2:
        raise DataError(f"{path}: Ct and Cv hold a single class; expected at least 2")
    empty = sorted(set(range(classes)) - set(labels.tolist()))
    if empty:
        raise DataError(
            f"{path}: Ct has no training sample of class {', '.join(map(str, empty))} of 0..{classes - 1}; a model "
            "would learn a class it never sees: give labels 0..classes-1 (or 1..classes), each class present"
        )
    return DataSet(name, x, labels, val_x, val_labels, classes)


def from_one(path: Path, coded: dict[str, tuple[torch.Tensor, int | None]]) -> list[torch.Tensor]:
    """The labels of each variable (name -> (labels, one-hot width or None for integer labels)), counted from 0:
    integer labels that run from 1 (MATLAB's way: no 0, and up to the one-hot width where the other variable has
    one) are shifted down by one, with a warning that says so."""
    integers = {name: labels for name, (labels, width) in coded.items() if width is None}
    widths = {width for _, width in coded.values() if width is not None}
    if not integers:
        return [labels for labels, _ in coded.values()]
    low, high = min(int(v.min()) for v in integers.values()), max(int(v.max()) for v in integers.values())
    if low != 1 or widths and high != max(widths):
        return [labels for labels, _ in coded.values()]
    print(
        f"warning: {path}: {' and '.join(integers)} hold labels {low}..{high}, counted from 1 as MATLAB counts; "
        f"read as classes 0..{high - 1}",
        file=sys.stderr,
    )
    return [labels - 1 if name in integers else labels for name, (labels, _) in coded.items()]


def read_sets(folder: Path, names: list[str]) -> dict[str, DataSet]:
    """The named sets read from the course's files in `folder`."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected one holding {', '.join(FILES.values())}")
    return {name: read_set(folder / FILES[name], name) for name in names}


def look_alikes(names: list[str], n: int, seed: int) -> dict[str, DataSet]:
    """The named look-alike sets: n training and n // 4 validation samples each, drawn from (seed, set)."""
    sets = {}
    for name in names:
        generate, classes = LOOK_ALIKES[name]
        g = torch.Generator().manual_seed(len(FILES) * seed + list(FILES).index(name))
        (x, labels), (val_x, val_labels) = generate(n, g), generate(n // 4, g)
        sets[name] = DataSet(name, x.float(), labels, val_x.float(), val_labels, classes)
    return sets


def describe(sets: dict[str, DataSet]) -> str:
    """One line per set: features, classes, samples."""
    return "\n".join(
        f"{s.name}: {s.x.shape[1]} features, {s.classes} classes, {len(s.x):,} training and "
        f"{len(s.val_x):,} validation samples"
        for s in sets.values()
    )


def standardised(data: DataSet) -> tuple[DataSet, torch.Tensor, torch.Tensor]:
    """The set with features standardised by the training mean and std, and that mean and std."""
    mean, std = data.x.mean(0), data.x.std(0).clamp(min=1e-12)
    return data._replace(x=(data.x - mean) / std, val_x=(data.val_x - mean) / std), mean, std


# ---- Taylor, Jacobian and transpose tests ------------------------------------------------------------------------


def example() -> tuple[torch.Tensor, torch.Tensor]:
    """The assignment's one example: x = [1, 2, 3, 4] (float64, a batch of one), label 0."""
    return torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=F64), torch.tensor([0])


def tensors(model: Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the tests differentiate with respect to: W, b (W1, b1, W2, ... for several layers), then x."""
    names, layer = [], 0
    several = sum(p.dim() > 1 for p, _ in model.param()) > 1
    for p, _ in model.param():
        layer += p.dim() > 1
        names.append(("W" if p.dim() > 1 else "b") + (str(layer) if several else ""))
    return dict(zip(names, (p for p, _ in model.param()))) | {"x": x}


def taylor_rows(f: Callable, tensor: torch.Tensor, first_order: Callable, g: torch.Generator) -> list:
    """taylor_test of f() w.r.t. `tensor` along a random unit direction d; first_order(d) is d^T grad f or J d."""
    d = torch.randn(tensor.shape, dtype=tensor.dtype, generator=g)
    d /= d.norm()
    return taylor_test(as_function_of(f, tensor), tensor.clone(), d, first_order(d), EPSILONS)


def gradient_tests(model: Module, x: torch.Tensor, labels: torch.Tensor, g: torch.Generator) -> dict[str, list]:
    """Taylor rows of the softmax cross-entropy of model(x) w.r.t. every parameter and x, gradients from backward."""
    loss = CrossEntropy()
    f = lambda: loss.forward(model.forward(x), labels)
    model.zero_grad()
    f()
    input_grad = model.backward(loss.backward())
    grads = [grad.clone() for _, grad in model.param()] + [input_grad]
    model.zero_grad()
    return {
        name: taylor_rows(f, tensor, lambda d, grad=grad: (d * grad).sum(), g)
        for (name, tensor), grad in zip(tensors(model, x).items(), grads)
    }


def jacobian_tests(layer: Module, x: torch.Tensor, g: torch.Generator) -> dict[str, list]:
    """Taylor rows of layer(x) w.r.t. every parameter and x, with J d from the Jacobian that backward assembles."""
    shape, tests = layer.forward(x).shape, {}
    for name, tensor in tensors(layer, x).items():
        matrix = jacobian(layer, x, None if tensor is x else tensor)
        tests[name] = taylor_rows(lambda: layer.forward(x), tensor, lambda d: (matrix @ d.reshape(-1)).view(shape), g)
    return tests


def verdict(rows: list) -> str:
    """`O(eps^2)` when the last HALVINGS ratios are 2 +- 0.1 and 4 +- 0.2; `linear` when the first-order ones are
    and the second-order residual is at rounding level (the map is linear there); else `FAIL`."""
    tail = ratios(rows)[-HALVINGS:]
    if not all(abs(first - 2) <= 0.1 for first, _ in tail):
        return "FAIL"
    if all(abs(second - 4) <= 0.2 for _, second in tail):
        return "O(eps^2)"
    return "linear" if all(row[2] <= 1e-9 * row[1] for row in rows[-HALVINGS - 1 :]) else "FAIL"


def summary_table(title: str, groups: dict[str, dict[str, list]]) -> None:
    """Print the last HALVINGS ratios of every test and its verdict, one row per group and tensor."""
    print(f"\n{title}\n| layer | w.r.t. | first-order ratios | second-order ratios | verdict |\n|---|---|---|---|---|")
    for group, tests in groups.items():
        for name, rows in tests.items():
            tail, result = ratios(rows)[-HALVINGS:], verdict(rows)
            second = (
                f"residual <= {max(r[2] for r in rows[-HALVINGS - 1 :]):.0e} (rounding)"
                if result == "linear"
                else " ".join(f"{s:.2f}" for _, s in tail)
            )
            print(f"| {group} | {name} | {' '.join(f'{f:.2f}' for f, _ in tail)} | {second} | {result} |")


def taylor_csv(groups: dict[str, dict[str, list]], path: Path) -> None:
    """Every residual of every test as CSV rows (group, w.r.t., eps, first- and second-order residual, verdict)."""
    write_csv(
        [
            {
                "test": group,
                "wrt": name,
                "eps": eps,
                "first_order": first,
                "second_order": second,
                "verdict": verdict(rows),
            }
            for group, tests in groups.items()
            for name, rows in tests.items()
            for eps, first, second in rows
        ],
        path,
    )


def taylor_figure(groups: dict[str, dict[str, list]], path: Path) -> None:
    """One log-log panel per group: both residuals of each test against eps, with O(eps) and O(eps^2) guides."""
    columns = min(4, len(groups))
    rows = math.ceil(len(groups) / columns)
    fig = Figure(figsize=(3.9 * columns, 3.5 * rows + 0.4))
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    eps = np.array(EPSILONS)
    for ax, (group, tests) in zip(axes, groups.items()):
        for (name, residuals), colour in zip(tests.items(), ("C0", "C1", "C2", "C3", "C4", "C5")):
            ax.loglog(eps, [r[1] for r in residuals], "o-", color=colour, ms=3, label=name)
            ax.loglog(eps, [r[2] for r in residuals], "s--", color=colour, ms=3)
        ax.loglog(eps, eps, "k:", lw=0.8, label="O(ε)")
        ax.loglog(eps, eps**2, "k-.", lw=0.8, label="O(ε²)")
        ax.set_xlabel("ε")
        ax.set_title(group, fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    fig.suptitle(
        "solid: |f(w + εd) − f(w)|, dashed: |f(w + εd) − f(w) − ε · first-order term| (dᵀ∇f or J d)", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def softmax_checks(z: torch.Tensor, label: int) -> dict[str, torch.Tensor]:
    """At logits z [C] (float64): the softmax Jacobian from backward (one-hot gradients), from diag(s) - s s^T and
    from central differences; the cross-entropy gradient fused (p - onehot) and by the Jacobian route J^T dL/ds."""
    module, x = Softmax(), z.view(1, -1).clone()
    s = module.forward(x)[0]
    central = torch.stack([numerical_gradient(lambda i=i: module.forward(x)[0, i], x).view(-1) for i in range(len(s))])
    loss = CrossEntropy()
    loss.forward(x, torch.tensor([label]))
    dl_ds = torch.zeros_like(s).index_fill_(0, torch.tensor([label]), -1.0) / s  # L = -log s_label
    module.forward(x)
    return {
        "s": s,
        "backward": jacobian(module, x),
        "formula": s.diag() - s.outer(s),
        "central": central,
        "fused": loss.backward()[0],
        "route": module.backward(dl_ds.view(1, -1))[0],
    }


def print_softmax(checks: dict[str, torch.Tensor], taylor: list) -> None:
    """The softmax Jacobian checks as the write-up shows them."""

    def vector(t):
        return "[" + ", ".join(f"{v:.4f}" for v in t.tolist()) + "]"

    print(f"\nsoftmax Jacobian at z = [1, 2, 3, 4]: s = {vector(checks['s'])}")
    print("J from the framework's Softmax.backward of one-hot gradients (row i = backward(e_i)):")
    print("\n".join("  " + vector(row) for row in checks["backward"]))
    print(
        f"max |J - (diag(s) - s s^T)| = {(checks['backward'] - checks['formula']).abs().max():.1e}; "
        f"max |J - central differences| = {(checks['backward'] - checks['central']).abs().max():.1e}"
    )
    tail = " ".join(f"{a:.2f}/{b:.2f}" for a, b in ratios(taylor)[-HALVINGS:])
    print(f"Taylor test of softmax(z) with J d: last ratios (first/second order) {tail} -> {verdict(taylor)}")
    print(
        f"cross-entropy, label 0: fused p - onehot = {vector(checks['fused'])}; "
        f"J^T dL/ds with dL/ds = -onehot/s = {vector(checks['route'])}; "
        f"max difference {(checks['fused'] - checks['route']).abs().max():.1e}"
    )


# ---- training ----------------------------------------------------------------------------------------------------


def fit(model: Module, data: DataSet, epochs: int, g: torch.Generator, title: str) -> list[dict]:
    """SGD (lr 0.1, batch 64) on softmax cross-entropy; per epoch the mean loss as trained and the training and
    validation accuracy at its end. Prints five progress lines."""
    loss, optimizer, rows = CrossEntropy(), SGD(model.param(), lr=LR), []
    for epoch in range(1, epochs + 1):
        mean_loss, _ = train_epoch(model, loss, optimizer, data.x, data.labels, BATCH, g)
        rows.append(
            {
                "epoch": epoch,
                "loss": mean_loss,
                "train_accuracy": accuracy(model, data.x, data.labels),
                "validation_accuracy": accuracy(model, data.val_x, data.val_labels),
            }
        )
        if epoch % max(1, epochs // 5) == 0 or epoch == epochs:
            print(
                f"  {title}, epoch {epoch}/{epochs}: loss {mean_loss:.4f}, training accuracy "
                f"{100 * rows[-1]['train_accuracy']:.2f}%, validation {100 * rows[-1]['validation_accuracy']:.2f}%",
                flush=True,
            )
    return rows


def accuracy_figure(curves: dict[str, list[dict]], path: Path, title: str) -> None:
    """One panel per set: training and validation accuracy per epoch."""
    fig = Figure(figsize=(4.4 * len(curves), 3.6))
    for ax, (name, rows) in zip(fig.subplots(1, len(curves), squeeze=False)[0], curves.items()):
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [100 * r["train_accuracy"] for r in rows], label="training")
        ax.plot(epochs, [100 * r["validation_accuracy"] for r in rows], label="validation")
        ax.set(xlabel="epoch", ylabel="accuracy %", title=f"{name}: {title}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def classifier(model: Module, mean: torch.Tensor, std: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Class predictions for raw points, standardised as the model was trained."""
    return lambda points: predict(model, (points - mean) / std)


def train_sets(kind: str, sets: dict[str, DataSet], names: tuple, out: Path, args: argparse.Namespace) -> dict:
    """Train a fresh `kind` model (toys.build: linear or tanh) on each named set; CSV per set, accuracy figure,
    final table. Returns {name: (model, mean, std, rows)}."""
    epochs = args.epochs or EPOCHS[kind]
    results = {}
    for name in names:
        data, mean, std = standardised(sets[name])
        g = torch.Generator().manual_seed(args.seed)
        model = build(kind, data.classes, g, features=data.x.shape[1])
        results[name] = model, mean, std, fit(model, data, epochs, g, f"{name}, {kind}")
        write_csv(results[name][3], out / f"{name}.csv")
    label = "softmax regression" if kind == "linear" else "tanh network"
    accuracy_figure({name: r[3] for name, r in results.items()}, out / "accuracy.png", label)
    print(
        f"\n{label}, {epochs} epochs, batch {BATCH}, lr {LR}\n| data set | training accuracy % | "
        "validation accuracy % |\n|---|---:|---:|"
    )
    for name, (*_, rows) in results.items():
        print(f"| {name} | {100 * rows[-1]['train_accuracy']:.2f} | {100 * rows[-1]['validation_accuracy']:.2f} |")
    return results


# ---- the tasks ---------------------------------------------------------------------------------------------------


def task1(sets: dict[str, DataSet], out: Path, args: argparse.Namespace) -> dict:
    """Taylor test of softmax cross-entropy w.r.t. W, b and x on the one example and on a batch of GMM."""
    g = torch.Generator().manual_seed(args.seed)
    gmm = sets["GMM"]
    x, labels = gmm.x[:BATCH].to(F64), gmm.labels[:BATCH]
    one = example()
    groups = {
        "one example x = [1, 2, 3, 4], label 0": gradient_tests(
            Linear(4, EXAMPLE_CLASSES, dtype=F64, generator=g), *one, g
        ),
        f"a batch of {len(x)} GMM training samples": gradient_tests(
            Linear(x.shape[1], gmm.classes, dtype=F64, generator=g), x, labels, g
        ),
    }
    for group, tests in groups.items():
        for name, rows in tests.items():
            print_table(f"softmax cross-entropy, {group}, w.r.t. {name}: {verdict(rows)}", rows)
    taylor_csv(groups, out / "taylor.csv")
    taylor_figure(groups, out / "taylor.png")
    return groups


def task3(sets: dict[str, DataSet], out: Path, args: argparse.Namespace) -> dict:
    """SGD on the one example; softmax regression on GMM and Peaks."""
    g = torch.Generator().manual_seed(args.seed)
    x, labels = example()
    model, loss = Linear(4, EXAMPLE_CLASSES, dtype=F64, generator=g), CrossEntropy()
    for p, _ in model.param():
        p.zero_()  # start from W = 0, b = 0: loss ln 3
    optimizer, curve = SGD(model.param(), lr=LR), [{"epoch": 0, "loss": evaluate(model, loss, x, labels)}]
    for epoch in range(1, EPOCHS["example"] + 1):
        train_epoch(model, loss, optimizer, x, labels, 1, g)
        curve.append({"epoch": epoch, "loss": evaluate(model, loss, x, labels)})
    final = curve[-1]["loss"]
    print(
        f"SGD on the one example ({EPOCHS['example']} epochs, lr {LR}): loss {curve[0]['loss']:.4f} -> {final:.2e}"
        f" ({'below' if final < 1e-2 else 'NOT below'} 1e-2)"
    )
    write_csv(curve, out / "one_example.csv")
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    ax.semilogy([r["epoch"] for r in curve], [r["loss"] for r in curve], "o-", ms=3)
    ax.set(xlabel="epoch", ylabel="cross-entropy", title="SGD on x = [1, 2, 3, 4], label 0")
    fig.tight_layout()
    fig.savefig(out / "one_example.png", dpi=110)
    return {"example": curve} | train_sets("linear", sets, ("GMM", "Peaks"), out, args)


def task6(sets: dict[str, DataSet], out: Path, args: argparse.Namespace) -> dict:
    """Jacobian tests of each layer kind, the gradient test of a 2-layer network, transpose tests, softmax Jacobian."""
    g = torch.Generator().manual_seed(args.seed)
    x, labels = example()
    kinds = {
        "linear W x + b": None,
        "tanh(W x + b)": Tanh,
        "relu(W x + b)": ReLU,
        "sigmoid(W x + b)": Sigmoid,
        "softmax(W x + b)": Softmax,
    }
    layers = {
        name: Sequential(Linear(4, EXAMPLE_CLASSES, dtype=F64, generator=g), *([kind()] if kind else []))
        for name, kind in kinds.items()
    }
    groups = {name: jacobian_tests(layer, x, g) for name, layer in layers.items()}
    net = Sequential(Linear(4, 10, dtype=F64, generator=g), Tanh(), Linear(10, EXAMPLE_CLASSES, dtype=F64, generator=g))
    groups["loss of Linear-tanh-Linear"] = gradient_tests(net, x, labels, g)
    summary_table(
        "Jacobian tests (layer output, J d from backward) and the network's gradient test, on x = "
        f"[1, 2, 3, 4]; eps = 2^-1 .. 2^-{len(EPSILONS)}, last {HALVINGS} ratios",
        groups,
    )
    print("\ntranspose test |u^T (J v) - v^T (J^T u)| w.r.t. x (J v from forward passes, J^T u from backward)")
    for name, layer in (layers | {"Linear-tanh-Linear": net}).items():
        u = torch.randn(layer.forward(x).shape, dtype=F64, generator=g)
        print(f"  {name}: {adjoint_test(layer, x, u, torch.randn(x.shape, dtype=F64, generator=g)):.1e}")
    checks, softmax_rows = softmax_checks(x[0], 0), jacobian_tests(Softmax(), x.clone(), g)["x"]
    print_softmax(checks, softmax_rows)
    groups["softmax(z)"] = {"z": softmax_rows}
    taylor_csv(groups, out / "taylor.csv")
    taylor_figure(groups, out / "taylor.png")
    return groups | {"softmax": checks}


def task7(sets: dict[str, DataSet], out: Path, args: argparse.Namespace) -> dict:
    """The tanh network on GMM, Peaks and Swiss roll; decision regions of the 2-D sets."""
    results = train_sets("tanh", sets, ("GMM", "Peaks", "SwissRoll"), out, args)
    flat = [name for name in results if sets[name].x.shape[1] == 2]
    if flat:
        fig = Figure(figsize=(4.4 * len(flat), 4.2))
        for ax, name in zip(fig.subplots(1, len(flat), squeeze=False)[0], flat):
            model, mean, std, rows = results[name]
            shown = sets[name]
            decision_regions(
                ax,
                classifier(model, mean, std),
                shown.val_x[:2000],
                shown.val_labels[:2000],
                f"{name}: validation accuracy {100 * rows[-1]['validation_accuracy']:.2f}%",
            )
        fig.tight_layout()
        fig.savefig(out / "regions.png", dpi=110)
    return results


RUNS = {"task1": task1, "task3": task3, "task6": task6, "task7": task7}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = options.parser(__doc__)
    parser.add_argument("-task", "--task", required=True, choices=[*TASKS, "all"], help="the task to run")
    parser.add_argument("-path", "--path", type=Path, help="folder of GMMData.mat, PeaksData.mat, SwissRollData.mat")
    parser.add_argument(
        "--out", type=options.output_folder, default="runs/framework/course", help="root of the outputs"
    )
    parser.add_argument("--seed", type=options.seed, default=0, help="look-alike data, weights, shuffling, directions")
    parser.add_argument(
        "--epochs",
        type=options.integer(1),
        help="epochs of softmax regression and of the network (default 200 and 250)",
    )
    parser.add_argument(
        "--samples",
        type=options.integer(4),
        help=f"training samples of each look-alike set, a quarter as many validating (default {SAMPLES:,})",
    )
    args = parser.parse_args(argv)
    if args.samples is not None and args.path is not None:
        parser.error("--samples sizes the look-alike sets; -path reads the course's files as they are")
    options.check_paths(parser, inputs={"-path": args.path}, outputs={"--out": (args.out, options.FOLDER)})
    return args


@without_autograd()
def main(argv: list[str] | None = None) -> dict:
    """Run the chosen tasks; returns {task: what it computed}."""
    args = parse(argv)
    tasks = TASKS if args.task == "all" else (args.task,)
    names = [name for name in FILES if any(name in NEEDS[task] for task in tasks)]
    sets = read_sets(args.path, names) if args.path else look_alikes(names, args.samples or SAMPLES, args.seed)
    if sets:
        source = f"read from {args.path}" if args.path else f"no -path: generated look-alike sets (seed {args.seed})"
        print(f"{source}\n{describe(sets)}")
    results = {}
    for task in tasks:
        print(f"\n== {task} ==", flush=True)
        (args.out / task).mkdir(parents=True, exist_ok=True)
        results[task] = RUNS[task](sets, args.out / task, args)
        print(f"outputs: {args.out / task}", file=sys.stderr)
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)  # batches of 64 gain nothing from more threads and lose much when the cores are shared
    run_main(main)
