"""join_parts: pieces of an object broken at the alpha threshold are joined along confident voxels, and nothing else
changes."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from diffusion_core.joining import join_parts, joining_path, speck_size

FACES = ndimage.generate_binary_structure(3, 1)


def pieces(alpha: np.ndarray, threshold: float = 0.9) -> int:
    return ndimage.label(alpha >= threshold, FACES)[1]


def two_blocks(gap_alpha: float, detour_alpha: float = 0.0) -> np.ndarray:
    """RGBA [4, 10, 10, 10]: two 3^3 blocks two voxels apart on x; the straight gap at gap_alpha and, if given,
    a longer U-shaped detour at detour_alpha."""
    v = np.zeros((4, 10, 10, 10), np.float32)
    v[:3] = 0.5
    v[3, 1:4, 1:4, 1:4] = 1.0
    v[3, 6:9, 1:4, 1:4] = 1.0
    v[3, 4:6, 2, 2] = gap_alpha
    if detour_alpha:
        v[3, 2, 2, 4:7] = v[3, 7, 2, 4:7] = v[3, 3:7, 2, 6] = detour_alpha
    return v


def test_a_gap_of_uncertain_voxels_is_filled_and_nothing_else_changes():
    v = two_blocks(gap_alpha=0.6)
    out = join_parts(v[None], 0.9)[0]
    assert pieces(v[3]) == 2 and pieces(out[3]) == 1
    changed = out != v
    assert changed[:3].sum() == 0  # colours untouched
    assert set(map(tuple, np.argwhere(changed[3]))) == {(4, 2, 2), (5, 2, 2)}
    assert (out[3][changed[3]] == np.float32(0.9)).all()
    assert (v[3] >= 0.9).sum() + 2 == (out[3] >= 0.9).sum()


def test_the_most_confident_path_wins_over_the_shortest():
    v = two_blocks(gap_alpha=0.35, detour_alpha=0.85)
    path = joining_path(v[3], 0.9, floor=0.3)
    assert not path[4, 2, 2] and path[3:7, 2, 6].all()  # the 0.85 detour misses 0.05 per voxel, the gap 0.55


def test_voxels_under_the_floor_do_not_join_and_one_piece_is_left_alone():
    broken = two_blocks(gap_alpha=0.2)
    np.testing.assert_array_equal(join_parts(broken[None], 0.9, floor=0.3)[0], broken)
    whole = two_blocks(gap_alpha=0.95)
    np.testing.assert_array_equal(join_parts(whole[None], 0.9)[0], whole)
    empty = np.zeros((1, 4, 6, 6, 6), np.float32)
    np.testing.assert_array_equal(join_parts(empty, 0.9), empty)


def test_every_small_piece_joins_the_largest():
    v = two_blocks(gap_alpha=0.6)
    v[3, 1:4, 6:9, 1:4] = 1.0  # a third block, above the first along y
    v[3, 2, 4:6, 2] = 0.5
    out = join_parts(v[None], 0.9)[0]
    assert pieces(v[3]) == 3 and pieces(out[3]) == 1


def test_allowed_keeps_the_joining_path_inside_a_region():
    v = two_blocks(gap_alpha=0.6)
    outside = np.zeros(v.shape[1:], bool)
    np.testing.assert_array_equal(join_parts(v[None], 0.9, allowed=outside)[0], v)
    inside = np.zeros(v.shape[1:], bool)
    inside[4:6] = True
    assert pieces(join_parts(v[None], 0.9, allowed=inside)[0, 3]) == 1


def test_a_speck_no_path_reaches_is_removed_and_a_larger_piece_stays():
    v = two_blocks(gap_alpha=0.0)
    v[3, 5, 7, 7] = v[3, 5, 7, 8] = 1.0  # a 2-voxel speck, far from both blocks
    out = join_parts(v[None], 0.9, speck_voxels=2)[0]
    assert (out[3, 5, 7, 7:9] == 0).all() and pieces(out[3]) == 2  # the second 3^3 block stays apart
    changed = out != v
    assert changed[:3].sum() == 0 and changed[3].sum() == 2  # colours and every other voxel untouched
    np.testing.assert_array_equal(join_parts(v[None], 0.9, speck_voxels=1)[0], v)  # 2 voxels > 1: kept


def test_a_speck_outside_the_allowed_region_stays():
    v = two_blocks(gap_alpha=0.95)
    v[3, 5, 7, 7] = 1.0
    outside = np.zeros(v.shape[1:], bool)
    np.testing.assert_array_equal(join_parts(v[None], 0.9, allowed=outside, speck_voxels=2)[0], v)
    inside = np.zeros(v.shape[1:], bool)
    inside[5, 7, 7] = True
    assert join_parts(v[None], 0.9, allowed=inside, speck_voxels=2)[0, 3, 5, 7, 7] == 0


def test_the_speck_size_scales_with_the_grid_volume():
    assert [speck_size(r) for r in (4, 16, 32, 64)] == [0, 2, 16, 128]


def test_the_input_is_not_modified_and_bad_arguments_are_refused():
    v = two_blocks(gap_alpha=0.6)[None]
    before = v.copy()
    join_parts(v, 0.9)
    np.testing.assert_array_equal(v, before)
    with pytest.raises(ValueError, match="N, C, R, R, R"):
        join_parts(v[0], 0.9)
    with pytest.raises(ValueError, match="floor"):
        join_parts(v, 0.5, floor=0.7)
