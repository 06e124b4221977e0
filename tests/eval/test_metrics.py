"""Metrics on hand-built voxel sets whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from diffusion_core.evaluation.metrics import (
    coverage, iou_distances, minimum_matching_distance, occupancy, one_nn_accuracy, set_metrics,
    single_component,
    undecided_share,
)
from diffusion_core.evaluation.colour_metrics import hue_distance

R = 6


def boxes(*corners_sizes: tuple[tuple[int, int, int], int]) -> np.ndarray:
    """One boolean grid [R, R, R] per (corner, edge) cube -> [N, R, R, R]."""
    out = np.zeros((len(corners_sizes), R, R, R), dtype=bool)
    for i, ((x, y, z), e) in enumerate(corners_sizes):
        out[i, x:x + e, y:y + e, z:z + e] = True
    return out


def as_voxels(occ: np.ndarray, rgb: tuple[float, float, float] = (0.8, 0.2, 0.2)) -> np.ndarray:
    """bool [N, R, R, R] -> RGBA float32 [N, 4, R, R, R] with one colour where occupied."""
    vox = np.zeros((len(occ), 4) + occ.shape[1:], dtype=np.float32)
    vox[:, 3] = occ
    vox[:, :3] = np.asarray(rgb, dtype=np.float32)[None, :, None, None, None] * occ[:, None]
    return vox


def pairwise(samples: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (d_ss, d_rr, d_sr), the arguments of one_nn_accuracy."""
    return iou_distances(samples, samples), iou_distances(reference, reference), iou_distances(samples, reference)


def test_iou_distances_match_a_loop_and_known_values():
    rng = np.random.default_rng(0)
    a, b = rng.random((5, R, R, R)) < 0.3, rng.random((4, R, R, R)) < 0.5
    d = iou_distances(a, b)
    loop = [[1 - (x & y).sum() / (x | y).sum() for y in b] for x in a]
    np.testing.assert_allclose(d, loop, atol=1e-12)
    two, three = np.zeros((1, R, R, R), bool), np.zeros((1, R, R, R), bool)
    two[0, 0, 0, :2], three[0, 0, 0, 1:4] = True, True  # overlap 1 voxel, union 4
    assert iou_distances(two, three)[0, 0] == pytest.approx(0.75)


def test_disjoint_shapes_are_at_distance_one_and_empty_grids_at_zero():
    a, b = boxes(((0, 0, 0), 2)), boxes(((3, 3, 3), 2))
    empty = np.zeros((1, R, R, R), bool)
    assert iou_distances(a, b)[0, 0] == 1.0
    assert iou_distances(a, a)[0, 0] == 0.0
    assert iou_distances(empty, empty)[0, 0] == 0.0
    assert iou_distances(empty, a)[0, 0] == 1.0


def test_identical_sets_cover_everything_with_zero_distance_and_nna_zero():
    s = boxes(((0, 0, 0), 2), ((1, 1, 1), 3), ((3, 3, 3), 3), ((0, 2, 0), 4))
    d_ss, d_rr, d_sr = pairwise(s, s)
    assert coverage(d_sr) == 1.0
    assert minimum_matching_distance(d_sr) == 0.0
    assert one_nn_accuracy(d_ss, d_rr, d_sr) == 0.0  # every shape's nearest neighbour is its copy


def test_nna_ties_count_half_and_separated_sets_score_one():
    same = boxes(*[((1, 1, 1), 2)] * 3)
    assert one_nn_accuracy(*pairwise(same, same)) == 0.5
    low = boxes(((0, 0, 0), 2), ((0, 0, 0), 3), ((1, 0, 0), 2))
    high = boxes(((3, 3, 3), 3), ((4, 4, 4), 2), ((3, 4, 3), 2))
    assert one_nn_accuracy(*pairwise(low, high)) == 1.0


def test_coverage_and_mmd_of_a_collapsed_sample_set():
    ref = boxes(((0, 0, 0), 2), ((3, 3, 3), 3), ((0, 3, 0), 3))
    collapsed = ref[[0, 0, 0]]
    d_sr = iou_distances(collapsed, ref)
    assert coverage(d_sr) == pytest.approx(1 / 3)
    assert minimum_matching_distance(d_sr) == pytest.approx(2 / 3)  # the other two are disjoint from it


def test_single_component_uses_six_connectivity():
    one = boxes(((0, 0, 0), 3))
    two = one.copy()
    two[0, 5, 5, 5] = True  # a floating voxel
    edge = np.zeros((1, R, R, R), bool)
    edge[0, 0, 0, 0] = edge[0, 1, 1, 0] = True  # touching only along an edge: two components
    empty = np.zeros((1, R, R, R), bool)
    np.testing.assert_array_equal(single_component(np.concatenate([one, two, edge, empty])),
                                  [True, False, False, False])


def test_hue_distance_same_disjoint_and_grey():
    red = np.array([[0.0, 1.0, 1.0]] * 5)
    blue = np.array([[0.66, 1.0, 1.0]] * 5)
    grey = np.array([[0.66, 0.0, 0.5]] * 50)
    assert hue_distance(red, red) == 0.0
    assert hue_distance(red, blue) == 1.0
    assert hue_distance(red, np.concatenate([red, grey])) == 0.0  # greys have no hue


def test_set_metrics_colours_and_mask_only():
    occ = boxes(((0, 0, 0), 2), ((2, 2, 0), 3))
    rgba = as_voxels(occ, (0.8, 0.2, 0.2))
    m = set_metrics(rgba, as_voxels(occ, (0.2, 0.2, 0.8)))
    assert (m["cov"], m["mmd"], m["connected"]) == (1.0, 0.0, 1.0)
    assert m["saturation"] == pytest.approx(0.75) and m["value"] == pytest.approx(0.8)
    assert m["hue_tv"] == 1.0
    mask = set_metrics(rgba[:, 3:], rgba[:, 3:])
    assert mask["hue_tv"] is None and mask["saturation"] is None and mask["cov"] == 1.0


def test_occupancy_thresholds_alpha():
    vox = np.zeros((1, 4, R, R, R), np.float32)
    vox[0, 3, 0, 0, :3] = [0.95, 0.9, 0.5]
    assert occupancy(vox, 0.9)[0, 0, 0, :3].tolist() == [True, True, False]


def test_undecided_share_counts_drawn_voxels_under_the_threshold():
    v = np.zeros((2, 4, 4, 4, 4), np.float32)
    v[0, 3, :2, :2, :2] = 1.0  # 8 decided voxels
    v[1, 3, 0, 0, :2] = 0.5  # 2 undecided
    v[1, 3, 3, 3, 3] = 0.05  # under the floor: not drawn at all
    assert undecided_share(v, 0.9) == pytest.approx(2 / 10)
    assert undecided_share(v, 0.4) == 0.0
    assert undecided_share(np.zeros_like(v), 0.9) == 0.0
