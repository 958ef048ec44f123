"""The decision regions of a classifier of points in the plane."""

from collections.abc import Callable

import torch


def decision_regions(
    ax,
    classify: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor,
    title: str,
    resolution: int = 200,
) -> None:
    """Colour the box around the points x [N, 2] by classify(points) (class indices), then draw the points in
    their labels' colours; up to 10 classes."""
    margin = 0.1 * x.std(0)
    low, high = x.min(0).values - margin, x.max(0).values + margin
    grid = torch.cartesian_prod(
        torch.linspace(low[0], high[0], resolution), torch.linspace(low[1], high[1], resolution)
    )
    first, second, regions = (t.view(resolution, resolution).numpy() for t in (grid[:, 0], grid[:, 1], classify(grid)))
    ax.pcolormesh(first, second, regions, alpha=0.3, cmap="tab10", vmin=0, vmax=9, shading="auto")
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=labels.numpy(), s=4, cmap="tab10", vmin=0, vmax=9)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
