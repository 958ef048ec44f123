"""A one-key sweep's learning curves: the per-value summary, its table and its figure.

The rows are one per (value, seed, epoch), as the runner logged them: the swept key, seed, epoch, train_loss,
train_acc, val_loss, val_acc. A seed diverged when its training or validation loss stopped being finite; its
run stops there. Means and bands are over the seeds that did not diverge; diverged seeds are drawn on their
own, up to the epoch they diverged at, and counted in the table.
"""

import math
import statistics
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from common.stats import mean_std

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


def runs(rows: list[dict], key: str) -> dict[float, dict[int, list[dict]]]:
    """The rows grouped by value, then by seed, in the order logged."""
    grouped: dict[float, dict[int, list[dict]]] = {}
    for row in rows:
        grouped.setdefault(row[key], {}).setdefault(row["seed"], []).append(row)
    return grouped


def diverged(row: dict) -> bool:
    """The epoch's training or validation loss is not finite: its run diverged there."""
    return not all(math.isfinite(row[k]) for k in ("train_loss", "val_loss"))


def partition(seeds: dict[int, list[dict]]) -> tuple[list[list[dict]], list[list[dict]]]:
    """One value's runs: (those that did not diverge, those that did)."""
    every = list(seeds.values())
    return [run for run in every if not diverged(run[-1])], [run for run in every if diverged(run[-1])]


def summary(rows: list[dict], key: str) -> list[dict]:
    """Per value: seeds, diverged seeds with their epochs, and over the others the final and best validation
    accuracy (lists, one per seed) and the best epochs."""
    out = []
    for value, seeds in runs(rows, key).items():
        kept, gone = partition(seeds)
        best = [max(run, key=lambda r: r["val_acc"]) for run in kept]
        out.append(
            {
                key: value,
                "seeds": len(seeds),
                "diverged": [run[-1]["epoch"] for run in gone],
                "final": [run[-1]["val_acc"] for run in kept],
                "best": [r["val_acc"] for r in best],
                "best_epoch": [r["epoch"] for r in best],
            }
        )
    return out


def table(summaries: list[dict], key: str) -> str:
    """Markdown: each value's final and best validation accuracy (%, mean ± std over the seeds that did not
    diverge), and how many seeds diverged at which epochs."""
    lines = [f"| {key} | final val acc % | best val acc % | best epoch | diverged |", "|---:|---:|---:|---:|---|"]
    for s in summaries:
        gone = (
            f"{len(s['diverged'])}/{s['seeds']} (epoch {', '.join(map(str, s['diverged']))})"
            if s["diverged"]
            else f"0/{s['seeds']}"
        )
        epochs = f"{statistics.mean(s['best_epoch']):.1f}" if s["best_epoch"] else "–"
        lines.append(
            f"| {s[key]} | {mean_std(s['final'], digits=2)} | {mean_std(s['best'], digits=2)} | {epochs} | {gone} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], key: str, path: Path, title: str) -> None:
    """Training and validation loss and accuracy per epoch, one colour per value: the mean over the seeds that
    did not diverge with a ± std band; each diverged seed dashed, with an x where it diverged."""
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2, sharex=True)
    grouped = runs(rows, key)
    n = len(grouped)
    colours = [colormaps["tab10"](i) if n <= 10 else colormaps["viridis"](i / (n - 1)) for i in range(n)]
    split = {value: partition(seeds) for value, seeds in grouped.items()}
    labels = {
        value: f"{key}={value}" + (f" ({len(gone)}/{len(kept) + len(gone)} diverged)" if gone else "")
        for value, (kept, gone) in split.items()
    }
    for ax, metric in zip(axes.flat, METRICS):
        for (value, (kept, _)), colour in zip(split.items(), colours):
            if kept:
                band(ax, kept, metric, colour, labels[value])
        if ax.lines:
            ax.set_yscale("log" if metric.endswith("loss") else "linear")
            ax.autoscale(False)  # the limits the finite runs need; diverged values would crush them
        for (value, (kept, gone)), colour in zip(split.items(), colours):
            for i, run in enumerate(gone):
                divergence(ax, run, metric, colour, None if kept or i else labels[value])  # one entry per value
        name, kind = metric.split("_")
        ax.set(
            title=f"{'training' if name == 'train' else 'validation'} {'loss' if kind == 'loss' else 'accuracy'}",
            xlabel="epoch" if ax in axes[1] else None,
            ylabel="cross-entropy" if kind == "loss" else "accuracy",
        )
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[1, 1].legend(fontsize=8)
    fig.suptitle(
        f"{title}\nmean over the seeds that did not diverge, band ± std; x on the top edge: a seed "
        f"diverged there (loss not finite)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def band(ax, kept: list[list[dict]], metric: str, colour, label: str) -> None:
    """The metric's mean over the runs (of one value: the same epochs) per epoch, with a ± std band."""
    columns = [[run[i][metric] for run in kept] for i in range(len(kept[0]))]
    epochs = [row["epoch"] for row in kept[0]]
    mean = [statistics.mean(c) for c in columns]
    std = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns]
    ax.plot(epochs, mean, color=colour, marker="o", markersize=3, label=label)
    ax.fill_between(
        epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], color=colour, alpha=0.2
    )


def divergence(ax, run: list[dict], metric: str, colour, label: str | None) -> None:
    """A diverged run: dashed over its finite values, and an x on the top edge at the epoch it diverged."""
    finite = [r for r in run if math.isfinite(r[metric])]
    ax.plot([r["epoch"] for r in finite], [r[metric] for r in finite], color=colour, linestyle="--", label=label)
    ax.plot(
        run[-1]["epoch"],
        1,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
        color=colour,
        marker="x",
        markersize=10,
        markeredgewidth=2,
    )
