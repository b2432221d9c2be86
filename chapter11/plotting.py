"""The one place that turns samples into pictures: image grids and 2-D scatter plots."""
from __future__ import annotations

import os

import torch


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] → one (C, H', W') grid in [0, 1], ready for imshow or saving."""
    from torchvision.utils import make_grid

    if images.ndim != 4:
        raise ValueError(f"image_grid expects (N, C, H, W) images; got shape {tuple(images.shape)}")
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2  # [-1, 1] → [0, 1]
    return make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> None:
    """Save (N, C, H, W) images in [-1, 1] as one PNG grid."""
    from PIL import Image

    grid = image_grid(images, nrow)  # (C, H', W') in [0, 1]
    arr = (grid.mul(255).round().byte().permute(1, 2, 0).numpy())  # (H', W', C)
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(path)


def plot_points(ax, fake: torch.Tensor, real: torch.Tensor | None = None, centers: torch.Tensor | None = None):
    """Scatter real (grey) and generated (orange) 2-D points on a matplotlib axis."""
    if real is not None:
        ax.scatter(*real.detach().cpu().T, s=2, c="0.6", label="real")
    ax.scatter(*fake.detach().cpu().T, s=2, c="tab:orange", label="generated")
    if centers is not None:
        ax.scatter(*centers.cpu().T, s=30, marker="x", c="k", label="modes")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    return ax


def save_points(fake: torch.Tensor, path: str | os.PathLike, real: torch.Tensor | None = None,
                centers: torch.Tensor | None = None, title: str = "") -> None:
    """Save a scatter plot of 2-D samples as PNG (no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=100)  # a bare Figure needs no GUI backend and leaks no global state
    ax = fig.add_subplot()
    plot_points(ax, fake, real, centers)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def save_samples(samples: torch.Tensor, path: str | os.PathLike, **kwargs) -> None:
    """Images → grid PNG; (N, 2) points → scatter PNG."""
    if samples.ndim == 2 and samples.shape[1] == 2:
        save_points(samples, path, **kwargs)
    else:
        save_image_grid(samples, path)
