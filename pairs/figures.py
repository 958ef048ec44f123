"""Matplotlib figures logged to TensorBoard: digit confusion matrix and misclassified test pairs (of CPU tensors)."""

import torch
from matplotlib.figure import Figure


def confusion(matrix: torch.Tensor) -> Figure:
    """A 10x10 digit confusion matrix with counts in the cells."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.imshow(matrix.numpy(), cmap="Blues")
    for (i, j), count in zip(torch.cartesian_prod(torch.arange(10), torch.arange(10)).tolist(), matrix.flatten()):
        ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10), title="test digits")
    fig.tight_layout()
    return fig


def misclassified_grid(x: torch.Tensor, classes: torch.Tensor, limit: int = 16) -> Figure:
    """Up to `limit` misclassified pairs x [N,2,14,14], each titled with its true classes [N,2]."""
    x, classes = x[:limit], classes[:limit]
    fig = Figure(figsize=(limit * 0.9, 3.4))
    axes = fig.subplots(2, limit // 2, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(x):
            ax.imshow(torch.cat([x[k, 0], x[k, 1]], 1).numpy(), cmap="gray")
            c0, c1 = classes[k].tolist()
            ax.set_title(f"{c0} vs {c1}: {'<=' if c0 <= c1 else '>'}", fontsize=9)
    fig.suptitle(f"misclassified test pairs (first {len(x)})")
    fig.tight_layout()
    return fig
