"""Sample-quality metrics for voxel sets (numpy and scipy, vectorised).

Voxels are float [N, C, R, R, R] in [0, 1] with alpha last; a voxel is occupied when alpha >= threshold.

- IoU distance d(a, b) = 1 - |a & b| / |a | b| between occupancies (0 for two empty grids), computed for
  all pairs at once from one matrix product of the flattened boolean grids.
- COV (coverage, higher is better, 1 ideal): the fraction of reference shapes that are the nearest
  neighbour of at least one sample.
- MMD (minimum matching distance, lower is better, 0 ideal): the mean over reference shapes of the
  distance to their nearest sample.
- 1-NNA (1-nearest-neighbour accuracy, 0.5 ideal): classify every shape of samples + reference by its
  nearest other shape; the fraction classified into its own set. 1 = the sets are told apart,
  below 0.5 = samples copy the reference. A tie between the nearest same-set and other-set distance
  counts as 0.5, so two copies of one set score 0 and sets of identical shapes score 0.5.
- connected: whether a grid is exactly one 6-connected component (no floating voxels; empty is False).
- occupied: the mean number of occupied voxels per object, and its ratio to the reference's (or the data's, given)
  with that ratio's standard error from the samples' spread (the data's mean taken as exact).
- colour (RGBA only; definitions in colour_metrics.py): mean HSV saturation and value of the occupied voxels
  (and the value's difference from the reference's), total variation distances (0 same, 1 disjoint) between
  the two sets' voxel hue histograms and per-object mean-hue histograms, colour flatness (and its ratio to the
  reference's), and colour regions per object.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD

from .colour_metrics import (
    ColourStats, colour_stats, nan_mean, object_hue_histogram, ratio, total_variation, voxel_hue_histogram,
)


def occupancy(voxels: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD) -> np.ndarray:
    """voxels [N, C, R, R, R] -> bool [N, R, R, R] (alpha >= threshold)."""
    return voxels[:, -1] >= threshold


UNDECIDED_FLOOR = 0.1
"""Alpha from which a voxel counts as drawn at all, for undecided_share."""


def undecided_share(voxels: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD) -> float:
    """voxels [N, C, R, R, R] -> the share of the voxels with alpha >= UNDECIDED_FLOOR whose alpha is under the
    threshold: the material the decoder leaves undecided (0 for binary data; 0 when nothing is drawn)."""
    alpha = voxels[:, -1]
    drawn = int((alpha >= UNDECIDED_FLOOR).sum())
    return 0.0 if drawn == 0 else float(((alpha >= UNDECIDED_FLOOR) & (alpha < threshold)).sum() / drawn)


def iou_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean occupancies a [N, R, R, R], b [M, R, R, R] -> float64 [N, M] of 1 - IoU."""
    fa, fb = a.reshape(len(a), -1).astype(np.float32), b.reshape(len(b), -1).astype(np.float32)
    inter = (fa @ fb.T).astype(np.float64)  # exact: counts below 2**24
    union = fa.sum(1, dtype=np.float64)[:, None] + fb.sum(1, dtype=np.float64)[None, :] - inter
    return np.where(union > 0, 1.0 - inter / np.maximum(union, 1.0), 0.0)


def coverage(d_sr: np.ndarray) -> float:
    """d_sr [N samples, M references] distances -> COV in [0, 1]."""
    return len(np.unique(d_sr.argmin(axis=1))) / d_sr.shape[1]


def minimum_matching_distance(d_sr: np.ndarray) -> float:
    """d_sr [N samples, M references] distances -> MMD (mean over references of the nearest sample's distance)."""
    return float(d_sr.min(axis=0).mean())


def one_nn_accuracy(d_ss: np.ndarray, d_rr: np.ndarray, d_sr: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy of telling samples from references.

    d_ss [N, N], d_rr [M, M], d_sr [N, M] pairwise distances (N, M >= 1; a set of one has no same-set
    neighbour, so its shape is always classified into the other set).
    """
    def own_set_score(d_same: np.ndarray, d_other: np.ndarray) -> np.ndarray:
        d_same = d_same + np.diag(np.full(len(d_same), np.inf))
        same, other = d_same.min(axis=1), d_other.min(axis=1)
        return np.where(same < other, 1.0, np.where(same == other, 0.5, 0.0))

    scores = np.concatenate([own_set_score(d_ss, d_sr), own_set_score(d_rr, d_sr.T)])
    return float(scores.mean())


def single_component(occ: np.ndarray) -> np.ndarray:
    """bool [N, R, R, R] -> bool [N]: exactly one 6-connected component (labelled in one call)."""
    structure = np.zeros((3, 3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(3, 1)  # no connections across the batch axis
    labels, _ = ndimage.label(occ, structure=structure)
    flat = labels.reshape(len(occ), -1)
    highest = flat.max(axis=1)
    lowest = np.where(flat > 0, flat, np.iinfo(flat.dtype).max).min(axis=1)
    return (highest > 0) & (highest == lowest)


def set_metrics(samples: np.ndarray, reference: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD,
                sample_stats: ColourStats | None = None,
                reference_stats: ColourStats | None = None,
                data_occupied: float | None = None) -> dict[str, float | None]:
    """Compare two voxel sets [N, C, R, R, R] and [M, C, R, R, R] (e.g. one class's samples vs its reference).

    Returns cov, mmd, nna, connected (fraction of samples), occupied (mean occupied voxels per sample),
    occupied_ratio (to the reference's mean or data_occupied) and its standard error occupied_ratio_se (the
    samples' spread; None for one sample), undecided (undecided_share of the samples), and for RGBA sets
    saturation, value (means over the samples' occupied voxels), value_diff (value minus the reference's), hue_tv
    (voxel hue histograms), object_hue_tv (per-object mean-hue histograms), flatness (mean over samples with pairs),
    flatness_ratio, regions and regions_all (means per sample); colour entries are None for mask-only sets.
    ``sample_stats`` and ``reference_stats``, when given, are colour_stats of the two sets at this threshold (to
    reuse them); ``data_occupied``, when given, is the data's mean occupied voxels that occupied_ratio divides by
    instead of the reference's (a mean of more shapes than the reference set has).
    """
    occ_s, occ_r = occupancy(samples, threshold), occupancy(reference, threshold)
    d_sr = iou_distances(occ_s, occ_r)
    cs = colour_stats(samples, threshold) if sample_stats is None else sample_stats
    cr = colour_stats(reference, threshold) if reference_stats is None else reference_stats
    occupied = float(cs.occupied.mean())
    data_mean = float(cr.occupied.mean()) if data_occupied is None else data_occupied
    out: dict[str, float | None] = {
        "cov": coverage(d_sr),
        "mmd": minimum_matching_distance(d_sr),
        "nna": one_nn_accuracy(iou_distances(occ_s, occ_s), iou_distances(occ_r, occ_r), d_sr),
        "connected": float(single_component(occ_s).mean()),
        "occupied": occupied,
        "occupied_ratio": ratio(occupied, data_mean),
        "occupied_ratio_se": None if len(cs.occupied) < 2 or not data_mean else
        float(cs.occupied.std(ddof=1) / np.sqrt(len(cs.occupied)) / data_mean),
        "undecided": undecided_share(samples, threshold),
        **dict.fromkeys(COLOUR_KEYS),
    }
    if cs.hsv is not None and cr.hsv is not None:
        value, reference_value = _mean_or_zero(cs.hsv[:, 2]), _mean_or_zero(cr.hsv[:, 2])
        flatness = nan_mean(cs.flatness)
        out.update({
            "saturation": _mean_or_zero(cs.hsv[:, 1]),
            "value": value,
            "value_diff": value - reference_value,
            "hue_tv": total_variation(voxel_hue_histogram(cs.hsv), voxel_hue_histogram(cr.hsv)),
            "object_hue_tv": total_variation(object_hue_histogram(cs.mean_hue), object_hue_histogram(cr.mean_hue)),
            "flatness": flatness,
            "flatness_ratio": ratio(flatness, nan_mean(cr.flatness)),
            "regions": float(cs.regions.mean()),
            "regions_all": float(cs.regions_all.mean()),
        })
    return out


COLOUR_KEYS = ("saturation", "value", "value_diff", "hue_tv", "object_hue_tv", "flatness", "flatness_ratio",
               "regions", "regions_all")
"""The keys of set_metrics that are None for mask-only sets."""


def _mean_or_zero(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0
