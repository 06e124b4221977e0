"""Colour-fidelity statistics of voxel objects, measured the way a person sees them (numpy + scipy, vectorised).

Voxels are RGBA float [N, 4, R, R, R] in [0, 1] with alpha last; a voxel is occupied when alpha >= threshold.
Colours are compared in CIE Lab (sRGB -> linear -> XYZ under D65 -> Lab, skimage.color.rgb2lab) with the
CIE76 colour difference ΔE = Euclidean distance in Lab.

- SAME_COLOUR_DELTA_E = 10: two neighbouring voxels have the same colour when ΔE76 < 10. Differences of 2-10
  are "perceptible at a glance", above 10 colours read as different; the synthetic data's parts differ by
  ΔE >= 19 at every part boundary (measured over 256 objects at 16^3 and 128 at 32^3), while a part itself
  is one flat colour (ΔE = 0). So on the data every threshold in (0, 19) gives the same answer; 10 sits in
  the middle and lets a sample's colour noise up to 10 count as flat.
- flatness of an object: the fraction of its face-adjacent occupied voxel pairs of the same colour (1 = flat
  parts with no speckle; objects with fewer than two voxels have none and are left out of set means).
- colour regions of an object: connected components of its occupied voxels, face-adjacent voxels joined when
  of the same colour (a flood fill: a gradient of small steps is one region). ``regions`` counts the regions
  of at least MIN_REGION_VOXELS = 3 voxels: single off-colour voxels and pairs are speckle, and the data's
  smallest part (a window, a door) has 6 voxels at 16^3 (512 objects), so every part of the data counts.
  ``regions_all`` counts every region, so regions_all - regions is the speckle.
- object mean hue: the circular mean of the hues of an object's voxels with saturation >= MIN_HUE_SATURATION
  (NaN when it has none), binned into OBJECT_HUE_BINS = 12 bins centred on the hues k / 12 (red, orange,
  yellow, ...: a red object does not split between the first and the last bin).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import rgb_to_hsv
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.color import rgb2lab

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD
from ..models.hue import MIN_HUE_SATURATION

SAME_COLOUR_DELTA_E = 10.0
"""Face neighbours with CIE76 ΔE below this are the same colour (the data's part boundaries are >= 19)."""

MIN_REGION_VOXELS = 3
"""Colour regions smaller than this many voxels are speckle, not parts (``regions`` leaves them out; the
data's smallest part has 6 voxels at 16^3)."""

HUE_BINS = 24
"""Bins of the per-class voxel hue histograms."""

OBJECT_HUE_BINS = 12
"""Bins of the per-object mean-hue histograms."""


@dataclass(frozen=True)
class ColourStats:
    """Per-object and per-voxel colour statistics of one voxel set of N objects with V occupied voxels."""

    occupied: np.ndarray  # int64 [N]: occupied voxels per object
    flatness: np.ndarray  # float64 [N]: same-colour fraction of face-adjacent pairs, NaN without pairs
    regions: np.ndarray  # int64 [N]: colour regions of >= MIN_REGION_VOXELS voxels
    regions_all: np.ndarray  # int64 [N]: all colour regions
    mean_hue: np.ndarray  # float64 [N] in [0, 1): circular mean hue of saturated voxels, NaN if none
    hsv: np.ndarray | None  # float [V, 3]: HSV of every occupied voxel of the set


def lab_colours(rgb: np.ndarray) -> np.ndarray:
    """sRGB [..., 3] in [0, 1] (clipped) -> CIE Lab [..., 3] under D65 (L in [0, 100])."""
    return rgb2lab(np.clip(rgb, 0.0, 1.0))


def face_pairs(occ: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bool [N, R, R, R] -> (a, b, obj): every face-adjacent occupied pair as indices int64 [P] into the
    occupied voxels in C order (``voxels[occ]`` order) and the object int64 [P] of each pair."""
    index = np.full(occ.shape, -1, dtype=np.int32 if occ.size < 2**31 else np.int64)
    index[occ] = np.arange(int(occ.sum()), dtype=index.dtype)
    firsts, seconds = [], []
    for axis in (1, 2, 3):
        lo, hi = [slice(None)] * 4, [slice(None)] * 4
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        both = occ[tuple(lo)] & occ[tuple(hi)]  # views: no copies of the grids
        firsts.append(index[tuple(lo)][both])
        seconds.append(index[tuple(hi)][both])
    a, b = np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64)
    return a, b, np.nonzero(occ)[0][a]


def colour_stats(voxels: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD) -> ColourStats:
    """Voxels [N, C, R, R, R] -> ColourStats; for mask-only sets (C = 1) only ``occupied`` means something
    (flatness 1 where there are pairs, one region per 6-connected component, hues NaN, hsv None)."""
    occ = voxels[:, -1] >= threshold
    n = len(occ)
    occupied = occ.reshape(n, -1).sum(axis=1).astype(np.int64)
    node_object = np.nonzero(occ)[0]
    a, b, pair_object = face_pairs(occ)
    if voxels.shape[1] == 4:
        rgb = np.moveaxis(voxels[:, :3], 1, -1)[occ]  # [V, 3]
        lab = lab_colours(rgb)
        same = np.linalg.norm(lab[a] - lab[b], axis=1) < SAME_COLOUR_DELTA_E
        hsv = rgb_to_hsv(np.clip(rgb, 0.0, 1.0)) if len(rgb) else np.zeros((0, 3))  # matplotlib needs a voxel
        mean_hue = object_mean_hues(hsv, node_object, n)
    else:
        same, hsv, mean_hue = np.ones(len(a), dtype=bool), None, np.full(n, np.nan)
    pairs = np.bincount(pair_object, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        flatness = np.where(pairs > 0, np.bincount(pair_object, weights=same, minlength=n) / pairs, np.nan)
    regions, regions_all = _count_regions(len(node_object), a[same], b[same], node_object, n)
    return ColourStats(occupied, flatness, regions, regions_all, mean_hue, hsv)


def _count_regions(v: int, a: np.ndarray, b: np.ndarray, node_object: np.ndarray,
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """Components of the graph on V voxels with edges a [E] - b [E] -> (big regions, all regions) int64 [N]."""
    if v == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(v, v))
    count, label = connected_components(graph, directed=False)
    size = np.bincount(label, minlength=count)
    region_object = np.empty(count, dtype=np.int64)
    region_object[label] = node_object  # edges stay inside objects, so a region lies in one object
    return (np.bincount(region_object[size >= MIN_REGION_VOXELS], minlength=n).astype(np.int64),
            np.bincount(region_object, minlength=n).astype(np.int64))


def object_mean_hues(hsv: np.ndarray, node_object: np.ndarray, n: int) -> np.ndarray:
    """HSV [V, 3] of occupied voxels, their objects int64 [V], N -> circular mean hue float64 [N] in [0, 1)
    of each object's voxels with saturation >= MIN_HUE_SATURATION (NaN for an object with none)."""
    keep = hsv[:, 1] >= MIN_HUE_SATURATION
    angle = 2 * np.pi * hsv[keep, 0].astype(np.float64)
    obj = node_object[keep]
    count = np.bincount(obj, minlength=n)
    sin, cos = np.bincount(obj, np.sin(angle), minlength=n), np.bincount(obj, np.cos(angle), minlength=n)
    return np.where(count > 0, np.mod(np.arctan2(sin, cos) / (2 * np.pi), 1.0), np.nan)


def hue_bin_indices(hues: np.ndarray, bins: int, centred: bool = False) -> np.ndarray:
    """Hues [K] in [0, 1] (no NaN) -> bin index int [K] in [0, bins). Bin k spans [k, k + 1) / bins (hue 1
    in the last), or with ``centred`` is centred on hue k / bins (with 12 bins: red, orange, yellow, ...), so
    a red object's hue jittering around 0 stays in one bin."""
    if centred:
        hues = np.mod(hues + 0.5 / bins, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.minimum(np.searchsorted(edges, hues, side="right") - 1, bins - 1)


def hue_histogram(hues: np.ndarray, bins: int = HUE_BINS, centred: bool = False) -> np.ndarray:
    """Hues [K] in [0, 1] (NaN left out) -> normalised histogram float64 [bins] (all zeros if none), binned
    by :func:`hue_bin_indices`."""
    kept = hues[~np.isnan(hues)]
    counts = np.bincount(hue_bin_indices(kept, bins, centred), minlength=bins).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def object_hue_histogram(mean_hues: np.ndarray) -> np.ndarray:
    """Per-object mean hues [N] (NaN left out) -> normalised histogram [OBJECT_HUE_BINS], bins centred on
    the hues k / OBJECT_HUE_BINS."""
    return hue_histogram(mean_hues, OBJECT_HUE_BINS, centred=True)


def voxel_hue_histogram(hsv: np.ndarray, bins: int = HUE_BINS) -> np.ndarray:
    """HSV [V, 3] -> normalised hue histogram [bins] of the voxels with saturation >= MIN_HUE_SATURATION."""
    return hue_histogram(hsv[hsv[:, 1] >= MIN_HUE_SATURATION, 0], bins)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Two normalised histograms [B] -> total variation distance in [0, 1] (0 same, 1 disjoint)."""
    return float(0.5 * np.abs(p - q).sum())


def hue_distance(hsv_a: np.ndarray, hsv_b: np.ndarray) -> float:
    """Total variation distance in [0, 1] between the voxel hue histograms of two sets' HSV [V, 3]."""
    return total_variation(voxel_hue_histogram(hsv_a), voxel_hue_histogram(hsv_b))


def nan_mean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries of values [K]; 0.0 when there are none (e.g. only empty objects)."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if len(kept) else 0.0


def ratio(value: float, reference: float) -> float | None:
    """value / reference, None when the reference is 0."""
    return value / reference if reference else None
