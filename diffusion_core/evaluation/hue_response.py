"""How a colour-conditional model's objects respond to the hue they are given, and the calibration that inverts it.

An object's dominant hue (models.hue.dominant_hues) is the circular mean of its saturated voxels' hues within 30°
of their 24-bin histogram's peak, so an accent part (a roof, a lamp's base) does not pull it; the data's objects
come out at their main hue exactly. A model's response is the signed gap (dominant − given) per given hue; its calibration
(models.hue.calibrated_hues) is the smoothed inverse of that response.
"""
from __future__ import annotations

import numpy as np

from ..models.hue import circular_mean, signed_gap


def mean_response(given: np.ndarray, dominant: np.ndarray) -> np.ndarray:
    """Given hues [K] and the dominant hues of objects made with them [M, K] (NaN: none) -> the circular mean of
    the signed gap per given hue [K], in turns."""
    return circular_mean(signed_gap(dominant, given), axis=0)


def fit_hue_calibration(given: np.ndarray, dominant: np.ndarray, harmonics: int = 3, knots: int = 24) -> list[float]:
    """The calibration offsets (models.hue.calibrated_hues) that invert a measured response.

    given [K] hues and dominant [M, K] as in mean_response. The mean gap g(c) is smoothed by a least-squares
    Fourier series of `harmonics` (a few degrees of noise per knot otherwise become wiggles), then for each
    wanted hue u at the `knots` knots the condition c with c + g(c) = u is found by fixed-point iteration
    (c = u − g(c); it converges while the gap changes more slowly than the hue). Returns offsets c − u in turns."""
    gap = mean_response(given, dominant)
    def basis(h: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(h)]
        for k in range(1, harmonics + 1):
            cols += [np.cos(2 * np.pi * k * h), np.sin(2 * np.pi * k * h)]
        return np.stack(cols, axis=-1)
    coef = np.linalg.lstsq(basis(np.asarray(given, dtype=np.float64)), gap, rcond=None)[0]
    wanted = (np.arange(knots) + 0.5) / knots
    cond = wanted.copy()
    for _ in range(50):
        cond = wanted - basis(cond % 1.0) @ coef
    return [float(v) for v in signed_gap(cond, wanted)]
