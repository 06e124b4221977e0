"""The colour condition: an object's main hue, given to the denoiser apart from its shape.

The synthetic data gives every object a main hue, stratified over the wheel, from which its parts' colours
derive (``data.shapes``). A hue-conditional UNet (``UNetConfig.hue_conditional``) receives that hue as a
circular embedding (``unet.HueEmbedding``, of ``hue_features``) added to the timestep embedding, beside the class embedding, so the network need not
discover the distribution of colours on its own: the sampler draws the hue (uniform on the wheel, from the
sample's seed, as the data draws it) or the artist picks it. NaN means "no hue" (the dropped condition of
training, and what a model is asked without one).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from skimage.color import rgb2hsv
from torch import Tensor

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD

MIN_HUE_SATURATION = 0.15
"""Voxels greyer than this have no meaningful hue (left out of hue measurements here and in evaluation)."""
PEAK_BINS = 24
PEAK_WINDOW = 30 / 360
"""dominant_hues: the hue histogram's bins, and how far (turns) from its peak a voxel's hue still counts."""
HUE_STREAM = 0x48554531
"""Mixed into a sample's seed for its drawn hue, so the hue is not the seed's first noise value."""


def hue_features(hue: Tensor) -> Tensor:
    """Hues [B] in [0, 1) (NaN: none) -> float32 features [B, 3]: (cos 2πh, sin 2πh, 1) or (0, 0, 0) for none."""
    known = ~torch.isnan(hue)
    angle = 2 * torch.pi * torch.where(known, hue, torch.zeros_like(hue)).float()
    flag = known.float()
    return torch.stack([torch.cos(angle) * flag, torch.sin(angle) * flag, flag], dim=1)


def own_hues(seeds: Sequence[int], init: np.ndarray | None = None, blend_seeds: Sequence[int] | None = None,
             blend_weights: Sequence[float] | None = None) -> list[float]:
    """The hue each object takes when none is asked for, in [0, 1): its seed's (seed_hues); between its two seeds'
    along the shorter arc for a blend (weight 0: the first's, 1: the second's); and, when it starts from or keeps
    a grid `init` [N, 4, R, R, R], that grid's dominant hue (where it has one), so a block-out or the kept part of
    an object keeps its colour."""
    own = seed_hues(seeds)
    if blend_seeds is not None:
        other = seed_hues(blend_seeds)
        own = [float((a + w * signed_gap(b, a)) % 1.0) for a, b, w in zip(own, other, blend_weights)]
    if init is not None:
        kept = dominant_hues(init)
        own = [o if np.isnan(k) else float(k) for o, k in zip(own, kept)]
    return own


def seed_hues(seeds: Sequence[int]) -> list[float]:
    """One hue in [0, 1) per seed, uniform on the wheel: the hue a sample gets when none is asked for (the same
    for a seed alone or in a batch)."""
    return [float(np.random.default_rng([int(seed), HUE_STREAM]).random()) for seed in seeds]


def validate_hue(hue: object) -> float | None:
    """A requested hue: None (draw it from the seed) or a finite number, wrapped into [0, 1). Raises ValueError."""
    if hue is None:
        return None
    if isinstance(hue, bool) or not isinstance(hue, (int, float)) or not np.isfinite(hue):
        raise ValueError(f"hue must be a finite number (turns of the colour wheel) or None, got {hue!r}")
    return float(hue) % 1.0


def validate_hue_calibration(offsets: object) -> list[float]:
    """A hue calibration as a model file stores it: K >= 3 finite offsets in turns, each within a quarter turn
    (see calibrated_hues). Raises ValueError."""
    if not isinstance(offsets, (list, tuple)) or len(offsets) < 3:
        raise ValueError(f"hue_calibration must be a list of at least 3 offsets (turns), got {offsets!r}")
    values = []
    for v in offsets:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= 0.25:
            raise ValueError(f"hue_calibration offsets must be numbers within ±0.25 turns, got {v!r}")
        values.append(float(v))
    return values


def calibrated_hues(hues: Sequence[float], offsets: Sequence[float] | None) -> list[float]:
    """The hues [N] an object should come out with (turns) -> the condition hues to give the network, in [0, 1).

    `offsets` (a model's measured calibration, scripts/calibrate_hue.py): K corrections in turns at the knots
    (k + 0.5) / K, interpolated linearly around the wheel and added; None: the hues unchanged. A model's objects
    may come out shifted from the hue they are given (towards yellow, say); the calibration asks for the hue that
    comes out where wanted, so drawn hues cover the wheel as the data's do and a picked colour is the one seen."""
    if offsets is None:
        return [float(h) % 1.0 for h in hues]
    k = len(offsets)
    knots = (np.arange(k + 2) - 0.5) / k  # one knot beyond each end, so interpolation wraps around the wheel
    values = np.concatenate([[offsets[-1]], offsets, [offsets[0]]])
    h = np.asarray(hues, dtype=np.float64) % 1.0
    return [float(v) for v in (h + np.interp(h, knots, values)) % 1.0]


def circular_gap(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Distance between hues on the wheel, in turns [0, 0.5]."""
    return np.abs(signed_gap(a, b))


def signed_gap(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """a − b around the wheel, in turns [−0.5, 0.5)."""
    return (np.asarray(a) - b + 0.5) % 1.0 - 0.5


def circular_mean(turns: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The circular mean of angles in turns along `axis` (NaN entries left out), in turns [−0.5, 0.5]."""
    angle = 2 * np.pi * np.asarray(turns)
    return np.arctan2(np.nanmean(np.sin(angle), axis=axis), np.nanmean(np.cos(angle), axis=axis)) / (2 * np.pi)


def dominant_hues(voxels: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD) -> np.ndarray:
    """float32 voxels [N, 4, R, R, R] in [0, 1] -> each object's dominant hue [N] in [0, 1) (NaN: no saturated
    voxel at the alpha threshold): the circular mean of its saturated voxels' hues within 30° of their 24-bin
    histogram's peak, so an accent part (a roof, a lamp's base) does not pull it."""
    out = np.full(len(voxels), np.nan)
    for i, grid in enumerate(voxels):
        hsv = rgb2hsv(np.clip(grid[:3][:, grid[3] >= threshold].T, 0, 1))
        hue = hsv[hsv[:, 1] >= MIN_HUE_SATURATION, 0]
        if hue.size == 0:
            continue
        peak = (np.argmax(np.bincount((hue * PEAK_BINS).astype(int) % PEAK_BINS, minlength=PEAK_BINS)) + 0.5) / PEAK_BINS
        out[i] = circular_mean(hue[circular_gap(hue, peak) <= PEAK_WINDOW]) % 1.0
    return out
