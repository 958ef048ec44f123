"""Matplotlib figures logged to TensorBoard: digit confusion matrix and misclassified test pairs (of CPU tensors).

Each is drawn WIDTH pixels wide, the width of an image on TensorBoard's IMAGES tab, so it shows there at its actual
size, pixel for pixel, with text sized to be read there. (The TIME SERIES tab fits every image into 215 pixels of
height until its card's "Toggle actual image size" button is pressed.)"""

import torch
from matplotlib.figure import Figure

WIDTH, DPI = 350, 100  # pixels; a point of text is then 100/72 pixels


def panel(height: int) -> Figure:
    """An empty figure WIDTH x `height` pixels."""
    return Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI)


def confusion(matrix: torch.Tensor) -> Figure:
    """A 10x10 digit confusion matrix with counts in the cells."""
    fig = panel(WIDTH)
    ax = fig.subplots()
    ax.imshow(matrix.numpy(), cmap="Blues")
    dark = matrix.flatten() > matrix.max() / 2  # white counts on the darkest cells
    cells = torch.cartesian_prod(torch.arange(10), torch.arange(10)).tolist()
    for (i, j), count, on_dark in zip(cells, matrix.flatten().tolist(), dark.tolist()):
        ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=6, color="white" if on_dark else "black")
    ax.set(xticks=range(10), yticks=range(10))
    ax.tick_params(labelsize=7, length=2, pad=1)
    ax.set_xlabel("predicted digit", fontsize=8)
    ax.set_ylabel("true digit", fontsize=8)
    ax.set_title("test digits", fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def misclassified_grid(x: torch.Tensor, classes: torch.Tensor, limit: int = 16, columns: int = 4) -> Figure:
    """Up to `limit` misclassified pairs x [N,2,14,14], `columns` to a row, each titled with its true classes [N,2]."""
    x, classes = x[:limit], classes[:limit]
    rows = max(1, -(-len(x) // columns))
    fig = panel(28 + 66 * rows)
    axes = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(x):
            ax.imshow(torch.cat([x[k, 0], x[k, 1]], 1).numpy(), cmap="gray", interpolation="nearest")
            c0, c1 = classes[k].tolist()
            ax.set_title(f"{c0} vs {c1}: {'<=' if c0 <= c1 else '>'}", fontsize=7, pad=2)
    fig.suptitle(f"misclassified test pairs (first {len(x)})", fontsize=9)
    fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.4)
    return fig
