"""Renders: a PNG of the expected pixel size with coloured content, for RGBA and mask grids, and the loss plot."""
import matplotlib.image as mpimg
import numpy as np

from diffusion_core.evaluation.render import PANEL_INCHES, plot_loss_curve, render_voxel_grid_png
from diffusion_core.data.shapes import make_shape


def test_voxel_grid_png_size_and_content(tmp_path):
    rng = np.random.default_rng(0)
    voxels = np.stack([make_shape(name, 16, rng, hue=0.0) for name in ("cube", "chair", "tree", "mug")])
    path = render_voxel_grid_png(voxels, tmp_path / "grid.png", titles=["a", "b", "c", "d"], ncols=2, dpi=50)
    image = mpimg.imread(path)
    side = int(PANEL_INCHES * 50)
    assert image.shape[:2] == (2 * side, 2 * side)
    red = (image[..., 0] > 0.5) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.sum() > 100  # the red objects were drawn


def test_mask_grid_and_empty_grid(tmp_path):
    voxels = np.zeros((3, 1, 8, 8, 8), dtype=np.float32)
    voxels[0, 0, 2:6, 2:6, 0:4] = 1.0
    path = render_voxel_grid_png(voxels, tmp_path / "mask.png", dpi=40)
    image = mpimg.imread(path)
    assert image.shape[:2] == (int(PANEL_INCHES * 40), 3 * int(PANEL_INCHES * 40))
    assert (image[..., :3].std(axis=2) < 0.05).all()  # grey only


def test_loss_curve(tmp_path):
    steps = np.arange(200)
    path = plot_loss_curve(steps, 1.0 / (steps + 1) + 0.01, tmp_path / "loss.png", smooth=0.9)
    assert path.stat().st_size > 1000 and mpimg.imread(path).shape[:2] == (360, 600)
