"""Matplotlib (Agg) previews: voxel grids as 3D cube plots, and the training loss curve."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MASK_GREY = (0.62, 0.64, 0.68)
VIEW = {"elev": 28.0, "azim": -58.0}
PANEL_INCHES = 2.4


def render_voxel_grid_png(
    voxels: np.ndarray,
    path: str | Path,
    titles: Sequence[str] | None = None,
    threshold: float = 0.5,
    ncols: int | None = None,
    dpi: int = 100,
) -> Path:
    """Save a grid of 3D voxel previews as a PNG.

    voxels: [N, C, R, R, R] in [0, 1], axes (x, y, z) with z up; C = 4 (RGBA, drawn in their RGB colours)
    or C = 1 (alpha only, drawn grey). A voxel is drawn when alpha >= threshold. Returns the path.
    """
    voxels = np.asarray(voxels)
    n, channels, res = voxels.shape[0], voxels.shape[1], voxels.shape[-1]
    ncols = ncols or min(n, math.ceil(math.sqrt(n * 1.5)))
    nrows = math.ceil(n / ncols)
    fig = plt.figure(figsize=(PANEL_INCHES * ncols, PANEL_INCHES * nrows), dpi=dpi)
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        filled = voxels[i, -1] >= threshold
        colours = np.empty(filled.shape + (4,), dtype=np.float32)
        if channels == 4:
            colours[..., :3] = np.clip(voxels[i, :3], 0, 1).transpose(1, 2, 3, 0)
        else:
            colours[..., :3] = MASK_GREY
        colours[..., 3] = 1.0
        if filled.any():
            ax.voxels(filled, facecolors=colours, edgecolor=(0, 0, 0, 0.15), linewidth=0.2, shade=True)
        ax.set(xlim=(0, res), ylim=(0, res), zlim=(0, res))
        ax.set_box_aspect((1, 1, 1), zoom=1.3)
        ax.view_init(**VIEW)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=9, pad=0)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.95 if titles is not None else 1, wspace=0, hspace=0.05)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_loss_curve(
    steps: Sequence[float],
    losses: Sequence[float],
    path: str | Path,
    smooth: float = 0.9,
    title: str = "training loss",
) -> Path:
    """Loss per logged step as faint points plus an exponential moving average of log(loss) (``smooth`` in
    [0, 1) per point), log-scale y. Averaging the log keeps the line on the points where the loss falls by
    orders of magnitude."""
    steps, losses = np.asarray(steps, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    ema = np.empty_like(losses)
    acc, weight = 0.0, 0.0
    for i, value in enumerate(np.log(losses)):  # bias-corrected EMA, as in TensorBoard
        acc, weight = smooth * acc + (1 - smooth) * value, smooth * weight + (1 - smooth)
        ema[i] = np.exp(acc / weight)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(steps, losses, ".", ms=2, alpha=0.25, color="tab:blue", label="logged")
    ax.plot(steps, ema, "-", lw=1.8, color="tab:orange", label=f"EMA of log loss ({smooth})")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
