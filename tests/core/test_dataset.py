"""Synthetic data set: balance, class weights, hue stratification, reproducibility, mask mode, item range, npz round trip."""
import numpy as np
import pytest
import torch

from diffusion_core.data.dataset import VoxelDataset, class_counts, make_synthetic_dataset
from diffusion_core.data.shapes import CLASS_NAMES


def test_balanced_and_shuffled():
    ds = make_synthetic_dataset(len(CLASS_NAMES) * 6, seed=1)
    assert ds.class_names == list(CLASS_NAMES)
    np.testing.assert_array_equal(np.bincount(ds.labels), np.full(len(CLASS_NAMES), 6))
    assert not np.all(np.diff(ds.labels) >= 0)  # not sorted by class
    assert ds.voxels.shape == (len(CLASS_NAMES) * 6, 4, 16, 16, 16)


def test_uneven_count_differs_by_at_most_one():
    counts = np.bincount(make_synthetic_dataset(7, classes=["cube", "mug", "tree"]).labels)
    assert sorted(counts) == [2, 2, 3]


@pytest.mark.parametrize("num_samples, names", [(10000, CLASS_NAMES), (13, ["a", "b", "c"]), (12, ["a", "b", "c"]),
                                                (100, list("abcdefg")), (5, CLASS_NAMES)])
def test_class_counts_without_weights_or_with_equal_weights_are_the_balanced_split(num_samples, names):
    k = len(names)
    balanced = [num_samples // k + (i < num_samples % k) for i in range(k)]
    assert class_counts(num_samples, names) == balanced
    assert class_counts(num_samples, names, {name: 2.5 for name in names}) == balanced


def test_class_counts_follow_the_weights_by_largest_remainder():
    assert class_counts(10, ["a", "b", "c"], {"b": 3}) == [2, 6, 2]
    assert class_counts(11, ["a", "b", "c"], {"b": 3}) == [2, 7, 2]  # quotas 2.2, 6.6, 2.2
    assert class_counts(12, ["a", "b", "c"], {"b": 3}) == [3, 7, 2]  # 2.4, 7.2, 2.4: the tie goes to "a"
    assert class_counts(10000, CLASS_NAMES, {"table": 3, "chair": 3})[CLASS_NAMES.index("table")] == 1500


@pytest.mark.parametrize("weights, message", [({"tabel": 2}, "unknown class"), ({"cube": 0}, "cube must be"),
                                              ({"cube": -1}, "cube must be"), ({"cube": float("nan")}, "cube must"),
                                              ({"cube": float("inf")}, "cube must"), ({"cube": True}, "cube must"),
                                              ({"cube": "2"}, "cube must")])
def test_class_counts_reject_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        class_counts(100, CLASS_NAMES, weights)


def test_weighted_set_draws_the_weighted_class_more_and_keeps_its_hues_stratified():
    ds = make_synthetic_dataset(40, seed=3, classes=["cube", "mug"], class_weights={"cube": 3})
    np.testing.assert_array_equal(np.bincount(ds.labels), [30, 10])
    cube_hues = np.sort(ds.hues[ds.labels == 0])
    assert len(np.unique(np.floor(cube_hues * 30))) >= 20  # evenly spread over the 30 strata, as unweighted


def test_hues_are_stratified_within_a_class():
    ds = make_synthetic_dataset(12, seed=0, classes=["cube"])
    rgb = ds.voxels[:, :3].reshape(12, 3, -1).max(axis=2)  # cube is one colour
    hue = np.arctan2(np.sqrt(3) * (rgb[:, 1] - rgb[:, 2]), 2 * rgb[:, 0] - rgb[:, 1] - rgb[:, 2]) / (2 * np.pi) % 1
    strata = np.floor(np.sort(hue) * 12)
    assert len(np.unique(strata)) >= 9  # evenly spread, not clumped


def test_same_seed_same_arrays_other_seed_differs():
    a, b = make_synthetic_dataset(32, seed=5), make_synthetic_dataset(32, seed=5)
    np.testing.assert_array_equal(a.voxels, b.voxels)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.voxels, make_synthetic_dataset(32, seed=6).voxels)


def test_only_mask_keeps_alpha():
    full = make_synthetic_dataset(16, seed=2)
    mask = make_synthetic_dataset(16, seed=2, only_mask=True)
    assert mask.voxels.shape == (16, 1, 16, 16, 16) and mask.channels == 1
    np.testing.assert_array_equal(mask.voxels[:, 0], full.voxels[:, 3])


def test_getitem_in_model_space():
    ds = make_synthetic_dataset(16, seed=3)
    x, label = ds[4]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (4, 16, 16, 16)
    assert x.min() == -1 and x.max() <= 1 and (x == 1).any()
    assert label == ds.labels[4] and isinstance(label, int)


def test_save_load_roundtrip(tmp_path):
    ds = make_synthetic_dataset(16, resolution=8, seed=4, classes=["chair", "lamp"])
    path = tmp_path / "data.npz"
    ds.save(path)
    loaded = VoxelDataset.load(path)
    np.testing.assert_array_equal(loaded.voxels, ds.voxels)
    np.testing.assert_array_equal(loaded.labels, ds.labels)
    assert loaded.class_names == ["chair", "lamp"] and loaded.resolution == 8


def test_rejects_bad_arrays():
    with pytest.raises(ValueError):
        VoxelDataset(np.zeros((2, 3, 4, 4, 4)), np.zeros(2), ["a"])
    with pytest.raises(ValueError):
        VoxelDataset(np.zeros((2, 1, 4, 4, 4)), np.array([0, 1]), ["a"])
