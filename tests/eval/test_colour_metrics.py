"""Colour-fidelity statistics on hand-built objects whose answers are known, and against slow loops."""
from __future__ import annotations

import numpy as np
import pytest

from diffusion_core.evaluation.colour_metrics import (
    MIN_REGION_VOXELS, SAME_COLOUR_DELTA_E, colour_stats, face_pairs, hue_histogram, lab_colours,
    object_hue_histogram, object_mean_hues, total_variation,
)
from diffusion_core.evaluation.metrics import set_metrics
from diffusion_core.data.shapes import hsv_to_rgb

R = 6
RED, BLUE = (0.8, 0.2, 0.2), (0.2, 0.2, 0.8)


def cube_voxels(n: int = 1, edge: int = 4, rgb: tuple[float, float, float] = RED) -> np.ndarray:
    """n RGBA grids [n, 4, R, R, R] holding one flat-coloured edge^3 cube at the origin corner."""
    vox = np.zeros((n, 4, R, R, R), dtype=np.float32)
    vox[:, 3, :edge, :edge, :edge] = 1.0
    vox[:, :3, :edge, :edge, :edge] = np.asarray(rgb, np.float32)[None, :, None, None, None]
    return vox


def random_objects(rng: np.random.Generator, n: int, fill: float, palette: np.ndarray | None = None) -> np.ndarray:
    """n random RGBA objects [n, 4, R, R, R]: voxels occupied with probability fill, colours per voxel from
    palette [P, 3] (or uniform RGB)."""
    vox = np.zeros((n, 4, R, R, R), dtype=np.float32)
    vox[:, 3] = rng.random((n, R, R, R)) < fill
    if palette is None:
        rgb = rng.random((n, R, R, R, 3))
    else:
        rgb = palette[rng.integers(0, len(palette), (n, R, R, R))]
    vox[:, :3] = np.moveaxis(rgb, -1, 1)
    return vox


def test_lab_of_known_colours():
    lab = lab_colours(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.5, -0.2, 0.0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)  # sRGB red under D65
    np.testing.assert_allclose(lab[3], lab[2], atol=1e-9)  # clipped to [0, 1] first


def test_face_pairs_of_a_cube_and_none_across_objects():
    occ = cube_voxels(2)[:, 3] >= 0.9
    a, b, obj = face_pairs(occ)
    assert len(a) == 2 * 3 * 4 * 4 * 3  # per object: 3 axes x 16 lines x 3 neighbouring pairs
    np.testing.assert_array_equal(np.bincount(obj), [144, 144])
    flat_obj = np.nonzero(occ)[0]
    np.testing.assert_array_equal(flat_obj[a], flat_obj[b])  # both ends of a pair in the same object
    coords = np.argwhere(occ)
    assert (np.abs(coords[a] - coords[b]).sum(axis=1) == 1).all()  # face neighbours


def test_two_colour_cube_in_halves():
    vox = cube_voxels()
    vox[0, :3, 2:4, :4, :4] = np.asarray(BLUE, np.float32)[:, None, None, None]  # x = 2, 3 blue
    s = colour_stats(vox)
    assert s.occupied.tolist() == [64]
    # 144 pairs; the 16 across the x = 1 | 2 boundary differ: 128 inside the halves
    assert s.flatness[0] == 128 / 144
    assert s.regions.tolist() == [2] and s.regions_all.tolist() == [2]


def test_one_off_colour_voxel_is_speckle_not_a_region():
    vox = cube_voxels()
    vox[0, :3, 1, 1, 1] = BLUE  # an interior voxel: 6 neighbours
    s = colour_stats(vox)
    assert s.flatness[0] == (144 - 6) / 144
    assert s.regions.tolist() == [1] and s.regions_all.tolist() == [2]
    assert MIN_REGION_VOXELS > 1


def test_random_voxel_colours_are_not_flat():
    s = colour_stats(random_objects(np.random.default_rng(0), 8, fill=0.9))
    assert np.nanmean(s.flatness) < 0.05
    assert (s.regions_all > 0.8 * s.occupied).all()  # almost every voxel its own region
    assert (s.regions < 0.1 * s.occupied).all()


def test_small_colour_steps_within_the_threshold_are_one_region():
    vox = np.zeros((1, 4, R, R, R), np.float32)
    vox[0, 3, :, 0, 0] = 1.0
    vox[0, :3, :, 0, 0] = np.linspace(0.35, 0.6, R)  # a grey ramp: neighbours ~ΔE 5 apart, ends ~ΔE 25
    lab = lab_colours(np.moveaxis(vox[0, :3, :, 0, 0], 0, -1))
    steps = np.linalg.norm(np.diff(lab, axis=0), axis=1)
    assert steps.max() < SAME_COLOUR_DELTA_E < np.linalg.norm(lab[-1] - lab[0])
    s = colour_stats(vox)
    assert s.flatness[0] == 1.0 and s.regions_all.tolist() == [1]  # a flood fill follows the gradient


def test_stats_match_slow_loops_and_objects_are_independent():
    rng = np.random.default_rng(1)
    vox = random_objects(rng, 5, fill=0.6, palette=np.array([RED, BLUE, (0.78, 0.22, 0.2), (0.3, 0.8, 0.3)]))
    s = colour_stats(vox)
    for i in range(len(vox)):
        occ = vox[i, 3] >= 0.9
        lab = lab_colours(np.moveaxis(vox[i, :3], 0, -1))
        parent = {tuple(p): tuple(p) for p in np.argwhere(occ)}

        def root(p):
            while parent[p] != p:
                p = parent[p]
            return p

        same = total = 0
        for p in parent:
            for axis in range(3):
                q = list(p)
                q[axis] += 1
                q = tuple(q)
                if q in parent:
                    total += 1
                    if np.linalg.norm(lab[p] - lab[q]) < SAME_COLOUR_DELTA_E:
                        same += 1
                        parent[root(p)] = root(q)
        sizes = np.unique([root(p) for p in parent], axis=0, return_counts=True)[1]
        assert s.occupied[i] == occ.sum()
        assert s.flatness[i] == pytest.approx(same / total)
        assert s.regions_all[i] == len(sizes) and s.regions[i] == (sizes >= MIN_REGION_VOXELS).sum()
        one = colour_stats(vox[i:i + 1])
        assert (one.regions_all[0], one.regions[0], one.flatness[0]) == (s.regions_all[i], s.regions[i], s.flatness[i])


def test_empty_and_single_voxel_objects_have_no_flatness():
    vox = np.zeros((2, 4, R, R, R), np.float32)
    vox[1, :, 2, 2, 2] = [0.5, 0.5, 0.5, 1.0]
    s = colour_stats(vox)
    assert s.occupied.tolist() == [0, 1] and np.isnan(s.flatness).all()
    assert s.regions.tolist() == [0, 0] and s.regions_all.tolist() == [0, 1]
    assert np.isnan(s.mean_hue).all()  # grey: no hue
    empty = colour_stats(vox[:1])  # a set with no occupied voxel at all (e.g. a model whose alpha never reaches 0.9)
    assert empty.occupied.tolist() == [0] and np.isnan(empty.flatness).all() and np.isnan(empty.mean_hue).all()
    assert empty.hsv.shape == (0, 3)


def test_object_mean_hue_is_circular_and_skips_greys():
    hsv = np.array([[0.95, 1, 1], [0.05, 1, 1],  # object 0: across red -> 0.0, not 0.5
                    [0.2, 1, 1], [0.3, 0.8, 1], [0.9, 0.0, 0.5],  # object 1: 0.25, the grey left out
                    [0.6, 0.05, 1]])  # object 2: only grey
    hues = object_mean_hues(hsv, np.array([0, 0, 1, 1, 1, 2]), 3)
    assert min(hues[0], 1 - hues[0]) < 1e-9 and hues[1] == pytest.approx(0.25) and np.isnan(hues[2])


def test_hue_histograms_of_known_colours():
    hues = np.array([0.0, 1 / 3, 2 / 3, 0.01, np.nan])  # red, green, blue, red again, no hue
    hist = hue_histogram(hues, 12)
    np.testing.assert_allclose(hist[[0, 4, 8]], [0.5, 0.25, 0.25])
    assert hist.sum() == pytest.approx(1.0)
    assert total_variation(hist, hue_histogram(np.array([0.5]), 12)) == 1.0
    around_red = np.array([0.99, 0.0, 0.02])  # a red object's mean hue jitters around 0
    assert hue_histogram(around_red, 12)[[0, 11]].tolist() == [2 / 3, 1 / 3]
    assert object_hue_histogram(around_red)[0] == 1.0  # centred bins: one bin, "red"
    assert object_hue_histogram(np.array([1 / 12, 0.5]))[[1, 6]].tolist() == [0.5, 0.5]
    rgb = hsv_to_rgb(np.array([0.0, 1 / 3, 2 / 3]), np.ones(3), np.ones(3))  # flat objects of these hues
    vox = np.zeros((3, 4, R, R, R), np.float32)
    vox[:, 3, :2, :2, :2] = 1.0
    vox[:, :3, :2, :2, :2] = rgb[:, :, None, None, None]
    np.testing.assert_allclose(colour_stats(vox).mean_hue, [0.0, 1 / 3, 2 / 3], atol=1e-6)


def test_set_metrics_colour_fidelity():
    reference = np.concatenate([cube_voxels(edge=4), cube_voxels(edge=2)])  # 64 and 8 voxels, flat red
    speckled = reference.copy()
    speckled[0, :3, 1, 1, 1] = (0.1, 0.1, 0.4)  # dark blue: HSV value 0.4 against 0.8
    m = set_metrics(speckled, reference)
    assert m["occupied"] == 36.0 and m["occupied_ratio"] == 1.0 and m["undecided"] == 0.0  # binary alpha
    assert m["flatness"] == pytest.approx(((144 - 6) / 144 + 1.0) / 2)
    assert m["flatness_ratio"] == pytest.approx(m["flatness"])  # the reference is flat: flatness 1
    assert (m["regions"], m["regions_all"]) == (1.0, 1.5)
    assert m["value"] == pytest.approx((71 * 0.8 + 0.4) / 72)
    assert m["value_diff"] == pytest.approx(-0.4 / 72, abs=1e-6)
    assert m["object_hue_tv"] == 0.0  # the one blue voxel does not move the red cube's mean hue out of "red"
    assert m["hue_tv"] == pytest.approx(1 / 72)  # one of 72 saturated voxels moved to blue
    small = set_metrics(reference[1:], reference[:1])
    assert small["occupied_ratio"] == pytest.approx(8 / 64)
    assert set_metrics(reference[1:], reference[:1], data_occupied=32.0)["occupied_ratio"] == 0.25  # the data's mean
    assert small["occupied_ratio_se"] is None  # one sample: no spread to measure
    spread = set_metrics(reference, reference, data_occupied=72.0)  # 64 and 8 voxels: s.d. 39.6, s.e. 28
    assert spread["occupied_ratio_se"] == pytest.approx(np.std([64, 8], ddof=1) / np.sqrt(2) / 72)
    mask = set_metrics(reference[:, 3:], reference[:, 3:])
    assert mask["occupied_ratio"] == 1.0 and mask["flatness"] is None and mask["regions"] is None
