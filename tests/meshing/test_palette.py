"""Palette snapping: flat colours per part, from k or a given palette (numpy only, no Blender)."""
import numpy as np
import pytest

from blender_addon.shared.palette import (PRESETS, _components, lab_to_rgb, parse_palette, region_labels,
                                          rgb_to_lab, snap_to_palette)

RED, BLUE = (0.8, 0.15, 0.1), (0.1, 0.2, 0.8)


def _blocks(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A red block (x 1..3) touching a blue block (x 4..6) in a 9 x 7 x 6 grid, with per-voxel RGB noise;
    empty voxels carry junk RGB and alpha below the threshold, to show they are left alone."""
    rng = np.random.default_rng(seed)
    vox = np.zeros((4, 9, 7, 6), np.float32)
    vox[:3] = rng.random((3, 9, 7, 6))
    vox[3] = rng.uniform(0.0, 0.5, (9, 7, 6))
    vox[:3, 1:4, 1:6, 1:5] = np.array(RED)[:, None, None, None]
    vox[:3, 4:7, 1:6, 1:5] = np.array(BLUE)[:, None, None, None]
    vox[3, 1:7, 1:6, 1:5] = 1.0
    occ = vox[3] >= 0.9
    vox[:3, occ] = np.clip(vox[:3, occ] + rng.normal(0.0, noise, (3, int(occ.sum()))), 0.0, 1.0)
    return vox


def _colours(vox: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The distinct RGB rows [D, 3] of the voxels where `where`."""
    return np.unique(vox[:3, where].T, axis=0)


def _is_rows_of(colours: np.ndarray, palette: np.ndarray) -> bool:
    return bool((np.abs(colours[:, None, :] - palette[None, :, :]).max(-1) == 0).any(1).all())


def test_lab_matches_skimage_and_inverts():
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(1).random((500, 3))
    np.testing.assert_allclose(rgb_to_lab(rgb), color.rgb2lab(rgb), atol=1e-4)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-5)


def test_components_match_scipy():
    csgraph = pytest.importorskip("scipy.sparse.csgraph")
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(2)
    n = 300
    a, b = rng.integers(0, n, 250), rng.integers(0, n, 250)
    ours = _components(n, a, b)
    count, theirs = csgraph.connected_components(sparse.coo_matrix((np.ones(250), (a, b)), (n, n)), directed=False)
    assert ours.max() + 1 == count
    np.testing.assert_array_equal(ours, theirs)  # both number components by their first node


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_at_most_k_colours_all_from_the_palette(k):
    rng = np.random.default_rng(3)
    vox = np.zeros((4, 8, 8, 8), np.float32)
    vox[:3] = rng.random((3, 8, 8, 8))  # every voxel its own colour: the hardest case for k
    vox[3, 1:7, 1:7, 1:7] = 1.0
    out, palette = snap_to_palette(vox, 0.9, k=k)
    occ = vox[3] >= 0.9
    assert palette.dtype == np.float32 and palette.shape[1] == 3 and 1 <= len(palette) <= k
    used = _colours(out, occ)
    assert len(used) <= k and _is_rows_of(used, palette)


@pytest.mark.parametrize("palette", ["pico8", "gameboy", PRESETS["grayscale8"], ["#ff0000", "#00ff00", "#0000ff"],
                                     [[0.2, 0.2, 0.2], [0.9, 0.9, 0.1]]])
def test_every_occupied_voxel_takes_a_given_palette_colour(palette):
    vox = _blocks(noise=0.05)
    out, used_palette = snap_to_palette(vox, 0.9, palette=palette)
    np.testing.assert_array_equal(used_palette, parse_palette(palette))
    assert _is_rows_of(_colours(out, vox[3] >= 0.9), used_palette)


def test_alpha_and_empty_voxels_unchanged_and_input_untouched():
    vox = _blocks(noise=0.05)
    before = vox.copy()
    out, _ = snap_to_palette(vox, 0.9, k=2)
    np.testing.assert_array_equal(vox, before)
    assert out.dtype == np.float32 and out.shape == vox.shape
    np.testing.assert_array_equal(out[3], vox[3])
    empty = vox[3] < 0.9
    np.testing.assert_array_equal(out[:, empty], vox[:, empty])


def test_two_touching_noisy_blocks_come_out_as_two_flat_parts():
    vox = _blocks(noise=0.03)
    out, palette = snap_to_palette(vox, 0.9, k=2)
    red, blue = np.zeros(vox.shape[1:], bool), np.zeros(vox.shape[1:], bool)
    red[1:4, 1:6, 1:5], blue[4:7, 1:6, 1:5] = True, True
    (red_colour,), (blue_colour,) = _colours(out, red), _colours(out, blue)  # each part exactly one colour
    assert len(palette) == 2 and not np.array_equal(red_colour, blue_colour)
    assert np.linalg.norm(rgb_to_lab(red_colour) - rgb_to_lab(np.array(RED))) < 3  # the part's mean colour
    assert np.linalg.norm(rgb_to_lab(blue_colour) - rgb_to_lab(np.array(BLUE))) < 3


def test_region_labels():
    vox = _blocks()
    labels = region_labels(vox, 0.9)
    assert (labels[vox[3] < 0.9] == -1).all()
    assert (labels[1:4, 1:6, 1:5] == 0).all() and (labels[4:7, 1:6, 1:5] == 1).all()
    assert region_labels(vox, 0.9, delta_e=1000.0).max() == 0  # everything is "the same colour"


def test_regions_stay_flat_where_per_voxel_nearest_colour_speckles():
    # Two palette reds a few ΔE apart: per-voxel nearest colour splits the noisy red block between them.
    vox = _blocks(noise=0.03)
    palette = np.array([RED, (0.8, 0.2, 0.14), BLUE], np.float32)
    red = np.zeros(vox.shape[1:], bool)
    red[1:4, 1:6, 1:5] = True
    nearest = np.argmin(((rgb_to_lab(vox[:3, red].T)[:, None] - rgb_to_lab(palette)[None]) ** 2).sum(-1), 1)
    assert len(np.unique(nearest)) == 2  # speckled
    out, _ = snap_to_palette(vox, 0.9, palette=palette)
    assert len(_colours(out, red)) == 1  # flat


def test_a_gradient_is_one_flat_part_not_bands():
    vox = np.zeros((4, 6, 6, 12), np.float32)
    vox[3] = 1.0
    vox[:3] = (0.3 + 0.04 * np.arange(12))[None, None, None, :] * np.array([1.0, 0.6, 0.3])[:, None, None, None]
    out, palette = snap_to_palette(vox, 0.9, k=4)
    assert len(palette) == 1 and len(_colours(out, vox[3] >= 0.9)) == 1
    banded, bands = snap_to_palette(vox, 0.9, k=4, delta_e=0.0)  # each voxel its own region: per-voxel k-means
    assert len(bands) == 4 and len(_colours(banded, vox[3] >= 0.9)) == 4


def test_a_stray_voxel_takes_its_surroundings_colour():
    vox = np.zeros((4, 7, 7, 7), np.float32)
    vox[:3, 1:6, 1:6, 1:6] = np.array(RED)[:, None, None, None]
    vox[3, 1:6, 1:6, 1:6] = 1.0
    vox[:3, 3, 3, 1] = BLUE  # on the bottom face, four red neighbours
    out, palette = snap_to_palette(vox, 0.9, k=2)
    assert len(palette) == 1  # the stray colour's cluster is emptied and dropped
    np.testing.assert_allclose(out[:3, 3, 3, 1], RED, atol=1e-5)


def test_fewer_distinct_colours_than_k_keeps_them():
    vox = _blocks()
    out, palette = snap_to_palette(vox, 0.9, k=8)
    np.testing.assert_allclose(palette, np.array([BLUE, RED]), atol=1e-5)  # dark to light
    np.testing.assert_allclose(out[:3, vox[3] >= 0.9], vox[:3, vox[3] >= 0.9], atol=1e-5)


def test_deterministic():
    vox = _blocks(noise=0.08, seed=4)
    (out1, pal1), (out2, pal2) = snap_to_palette(vox, 0.9, k=3), snap_to_palette(vox.copy(), 0.9, k=3)
    np.testing.assert_array_equal(out1, out2)
    np.testing.assert_array_equal(pal1, pal2)


def test_presets():
    assert {"pico8": 16, "gameboy": 4, "grayscale8": 8}.items() <= {n: len(p) for n, p in PRESETS.items()}.items()
    for colours in PRESETS.values():
        assert colours.dtype == np.float32 and colours.shape[1] == 3 and 0 <= colours.min() <= colours.max() <= 1
    np.testing.assert_allclose(PRESETS["pico8"][[0, 8, 15]], np.array([[0, 0, 0], [255, 0, 77], [255, 204, 170]]) / 255)
    parse_palette("pico8")[0] = 1.0  # a copy: the preset stays as published
    assert PRESETS["pico8"][0].max() == 0


def test_an_empty_object_comes_back_unchanged():
    vox = _blocks()
    vox[3] = 0.5
    out, palette = snap_to_palette(vox, 0.9, k=3)
    np.testing.assert_array_equal(out, vox)
    assert palette.shape == (0, 3)
    assert len(snap_to_palette(vox, 0.9, palette="gameboy")[1]) == 4


@pytest.mark.parametrize("kwargs", [
    dict(k=0), dict(k=257), dict(k=2.5), dict(k=True), dict(), dict(k=2, palette="pico8"),
    dict(palette=[]), dict(palette=np.zeros((0, 3))), dict(palette=[[1.2, 0.0, 0.0]]), dict(palette=[[0.5, 0.5]]),
    dict(palette=[[np.nan, 0.0, 0.0]]), dict(palette="no such preset"), dict(palette=["#12345"]),
    dict(palette=["#gg0000"]), dict(palette=np.zeros((257, 3))),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        snap_to_palette(_blocks(), 0.9, **kwargs)


@pytest.mark.parametrize("shape", [(3, 4, 4, 4), (1, 4, 4, 4), (4, 4, 4)])
def test_bad_voxel_shapes_raise(shape):
    with pytest.raises(ValueError):
        snap_to_palette(np.zeros(shape, np.float32), 0.9, k=2)
