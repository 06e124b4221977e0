"""Synthetic shapes: every class non-empty, on the floor, inside the grid, one 6-connected piece, sane colours."""
import numpy as np
import pytest
from scipy import ndimage

from diffusion_core.data.shapes import CLASS_NAMES, hsv_to_rgb, make_shape, make_shapes

SIX_CONNECTED = ndimage.generate_binary_structure(3, 1)


def _check_grids(grids: np.ndarray) -> None:
    rgb, alpha = grids[:, :3], grids[:, 3]
    assert grids.dtype == np.float32
    assert set(np.unique(alpha)) <= {0.0, 1.0}
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert np.all(rgb[np.broadcast_to(alpha[:, None] == 0, rgb.shape)] == 0)
    filled = alpha > 0
    for grid in filled:
        assert grid[:, :, 0].any(), "shapes stand on the floor"
        for face in (grid[0], grid[-1], grid[:, 0], grid[:, -1], grid[:, :, -1]):
            assert not face.any(), "shapes must not touch the sides or top"
        _, components = ndimage.label(grid, structure=SIX_CONNECTED)
        assert components == 1
    colourful = rgb.max(axis=1)[filled]
    assert colourful.max() > 0.2  # coloured, not black


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_every_class_valid_at_16_for_many_seeds(name):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        _check_grids(make_shapes(name, 16, rng, rng.random(100)))


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_every_class_valid_at_32(name):
    rng = np.random.default_rng(7)
    _check_grids(make_shapes(name, 32, rng, rng.random(3)))


def test_at_least_twelve_classes():
    assert len(CLASS_NAMES) >= 12 and len(set(CLASS_NAMES)) == len(CLASS_NAMES)


def test_same_seed_identical_and_different_seeds_differ():
    a = make_shape("chair", 16, np.random.default_rng(3))
    b = make_shape("chair", 16, np.random.default_rng(3))
    c = make_shape("chair", 16, np.random.default_rng(4))
    assert a.shape == (4, 16, 16, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[3], c[3])


def test_hue_sets_main_colour():
    red = make_shape("cube", 16, np.random.default_rng(0), hue=0.0)
    blue = make_shape("cube", 16, np.random.default_rng(0), hue=2 / 3)
    filled = red[3] > 0
    assert np.all(red[0][filled] > red[2][filled])
    assert np.all(blue[2][filled] > blue[0][filled])


def test_multi_part_objects_have_several_colours():
    tree = make_shape("tree", 16, np.random.default_rng(0), hue=0.33)
    colours = np.unique(tree[:3, tree[3] > 0].T, axis=0)
    assert len(colours) == 2  # brown trunk, crown of the hue


def test_64_resolution_fills_similar_fraction():
    rng16, rng64 = np.random.default_rng(11), np.random.default_rng(11)
    small, large = make_shape("sphere", 16, rng16, 0.5), make_shape("sphere", 64, rng64, 0.5)
    assert large.shape == (4, 64, 64, 64)
    assert abs(small[3].mean() - large[3].mean()) < 0.35 * large[3].mean()


def test_hsv_to_rgb_primaries():
    h = np.array([0.0, 1 / 3, 2 / 3, 0.5])
    rgb = hsv_to_rgb(h, np.ones(4), np.ones(4))
    np.testing.assert_allclose(rgb, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]], atol=1e-12)


def test_unknown_class_rejected():
    with pytest.raises(ValueError):
        make_shape("teapot", 16, np.random.default_rng(0))
