"""Colour helpers shared by the meshing code and the Blender object builder (numpy only, no bpy).

Voxel RGB channels hold display (sRGB-encoded) colours in [0, 1]. Blender's FLOAT_COLOR attributes
store scene-linear values, so colours are converted with `srgb_to_linear` before they are written.
"""
from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

MASK_DEFAULT_RGB = (0.8, 0.8, 0.8)
"""Display colour given to occupied voxels of mask-only grids (C = 1, alpha only)."""


def voxel_rgb(voxels: np.ndarray) -> np.ndarray:
    """RGB channels of a voxel grid.

    Args:
        voxels: float [C, X, Y, Z] with C = 4 (RGBA) or C = 1 (alpha only).
    Returns:
        float32 [3, X, Y, Z]; for C = 1, `MASK_DEFAULT_RGB` wherever the grid is defined.
    """
    if voxels.shape[0] == 4:
        return np.asarray(voxels[:3], dtype=np.float32)
    if voxels.shape[0] == 1:
        rgb = np.asarray(MASK_DEFAULT_RGB, dtype=np.float32)[:, None, None, None]
        return np.broadcast_to(rgb, (3, *voxels.shape[1:])).astype(np.float32)
    raise ValueError(f"expected 4 (RGBA) or 1 (alpha) channels, got {voxels.shape[0]}")


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> scene-linear (IEC 61966-2-1 curve). Any shape; float32."""
    c = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear values -> sRGB-encoded in [0, 1] (the inverse of `srgb_to_linear`). Any shape; float32."""
    c = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055).astype(np.float32)


def with_alpha(rgb: np.ndarray) -> np.ndarray:
    """[N, 3] colours -> [N, 4] float32 with alpha = 1 (the layout of Blender colour attributes)."""
    out = np.ones((rgb.shape[0], 4), dtype=np.float32)
    out[:, :3] = rgb
    return out


def hue_of(rgb: Sequence[float]) -> float:
    """The hue of a display colour (r, g, b) in [0, 1], in turns of the wheel from red: [0, 1) (0 for greys)."""
    return colorsys.rgb_to_hsv(*(min(max(float(c), 0.0), 1.0) for c in rgb))[0] % 1.0
