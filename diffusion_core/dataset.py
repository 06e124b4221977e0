"""Labelled voxel data sets: a general in-memory container and the seeded synthetic set of ``shapes``."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .shapes import CLASS_NAMES, make_shapes


class VoxelDataset(Dataset):
    """Voxel grids with class labels; items are in model space.

    voxels: float32 [N, C, R, R, R] in [0, 1] (C = 4 RGBA or 1 alpha); labels: int64 [N] indices into
    ``class_names``. Bring your own voxelised meshes by building one from arrays.
    """

    def __init__(self, voxels: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> None:
        voxels, labels = np.asarray(voxels, dtype=np.float32), np.asarray(labels, dtype=np.int64)
        if voxels.ndim != 5 or voxels.shape[1] not in (1, 4) or len(set(voxels.shape[2:])) != 1:
            raise ValueError(f"voxels must be [N, 1 or 4, R, R, R], got {voxels.shape}")
        if labels.shape != (len(voxels),):
            raise ValueError(f"labels must be [{len(voxels)}], got {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"labels must index the {len(class_names)} class names")
        self.voxels, self.labels, self.class_names = voxels, labels, list(class_names)

    @property
    def resolution(self) -> int:
        return self.voxels.shape[-1]

    @property
    def channels(self) -> int:
        return self.voxels.shape[1]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """-> (x float32 [C, R, R, R] in [-1, 1], label)."""
        return torch.from_numpy(self.voxels[index] * 2 - 1), int(self.labels[index])

    def save(self, path: str | Path) -> None:
        """Write a compressed .npz (voxels, labels, class_names as a unicode array; no pickle)."""
        np.savez_compressed(path, voxels=self.voxels, labels=self.labels, class_names=np.array(self.class_names))

    @classmethod
    def load(cls, path: str | Path) -> VoxelDataset:
        with np.load(path, allow_pickle=False) as f:
            return cls(f["voxels"], f["labels"], [str(name) for name in f["class_names"]])


def make_synthetic_dataset(
    num_samples: int,
    resolution: int = 16,
    seed: int = 0,
    only_mask: bool = False,
    classes: Sequence[str] | None = None,
) -> VoxelDataset:
    """A shuffled, class-balanced set of ``shapes`` objects, identical for identical arguments.

    Every class gets ``num_samples // K`` samples (the first ``num_samples % K`` classes one more). The
    i-th of a class's n samples has its main hue in stratum ``(i + offset) / n`` of the hue wheel (random
    per-class offset, uniform jitter within the stratum), so colours are spread evenly in every class.
    ``only_mask`` keeps just the alpha channel: voxels [N, 1, R, R, R].
    """
    class_names = list(CLASS_NAMES if classes is None else classes)
    num_classes = len(class_names)
    seeds = np.random.SeedSequence(seed).spawn(num_classes + 1)
    counts = [num_samples // num_classes + (k < num_samples % num_classes) for k in range(num_classes)]
    labels = np.random.default_rng(seeds[-1]).permutation(np.repeat(np.arange(num_classes), counts))
    voxels = np.empty((num_samples, 1 if only_mask else 4) + (resolution,) * 3, dtype=np.float32)
    for k, (name, n) in enumerate(zip(class_names, counts)):
        rng = np.random.default_rng(seeds[k])
        hues = (np.arange(n) + rng.random() + rng.random(n)) / max(n, 1) % 1.0
        grids = make_shapes(name, resolution, rng, hues)
        voxels[labels == k] = grids[:, 3:] if only_mask else grids
    return VoxelDataset(voxels, labels, class_names)
