"""Labelled voxel data sets: a general in-memory container and the seeded synthetic set of ``shapes``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import torch
from torch.utils.data import Dataset

from .shapes import CLASS_NAMES, make_shapes


class GridDataset(Dataset):
    """Labelled grids in memory: float32 [N, C, R, R, R], int64 labels [N] indexing ``class_names``, and optionally
    each object's main hue, float32 [N] in [0, 1) (the colour condition, ``models.hue``; None where unknown).

    The common container of voxel and latent data sets: shape/label checks, sizes, and a pickle-free
    .npz round trip. A subclass names its array (``array_name``, also the .npz key), adds its own
    checks and maps an item to model space.
    """

    array_name: ClassVar[str]
    compress: ClassVar[bool] = False

    def __init__(self, grids: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                 hues: np.ndarray | None = None) -> None:
        grids, labels = np.asarray(grids, dtype=np.float32), np.asarray(labels, dtype=np.int64)
        if grids.ndim != 5:
            raise ValueError(f"{self.array_name} must be [N, C, R, R, R], got {grids.shape}")
        self._check(grids)
        if labels.shape != (len(grids),):
            raise ValueError(f"labels must be [{len(grids)}], got {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"labels must index the {len(class_names)} class names")
        if hues is not None:
            hues = np.asarray(hues, dtype=np.float32)
            if hues.shape != labels.shape or not np.all((hues >= 0) & (hues < 1)):
                raise ValueError(f"hues must be [{len(labels)}] in [0, 1)")
        self.grids, self.labels, self.class_names, self.hues = grids, labels, list(class_names), hues

    def _check(self, grids: np.ndarray) -> None:
        """Subclass checks on the grids' shape (raise ValueError)."""

    @property
    def resolution(self) -> int:
        return self.grids.shape[-1]

    @property
    def channels(self) -> int:
        return self.grids.shape[1]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """-> (grid float32 [C, R, R, R] in model space, label)."""
        return torch.from_numpy(self._to_model_space(self.grids[index])), int(self.labels[index])

    def _to_model_space(self, grid: np.ndarray) -> np.ndarray:
        return grid

    def save(self, path: str | Path) -> None:
        """Write an .npz (grids under ``array_name``, labels, class_names as a unicode array, hues when known; no
        pickle)."""
        write = np.savez_compressed if self.compress else np.savez
        hues = {} if self.hues is None else {"hues": self.hues}
        write(path, **{self.array_name: self.grids}, labels=self.labels, class_names=np.array(self.class_names),
              **hues)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        with np.load(path, allow_pickle=False) as f:
            hues = f["hues"] if "hues" in f.files else None
            return cls(f[cls.array_name], f["labels"], [str(name) for name in f["class_names"]], hues)


class VoxelDataset(GridDataset):
    """Voxel grids with class labels; items are in model space.

    voxels: float32 [N, C, R, R, R] in [0, 1] (C = 4 RGBA or 1 alpha); labels: int64 [N] indices into
    ``class_names``. Bring your own voxelised meshes by building one from arrays.
    """

    array_name = "voxels"
    compress = True

    def _check(self, grids: np.ndarray) -> None:
        if grids.shape[1] not in (1, 4) or len(set(grids.shape[2:])) != 1:
            raise ValueError(f"voxels must be [N, 1 or 4, R, R, R], got {grids.shape}")

    @property
    def voxels(self) -> np.ndarray:
        return self.grids

    def _to_model_space(self, grid: np.ndarray) -> np.ndarray:
        return grid * 2 - 1


def class_counts(num_samples: int, class_names: Sequence[str],
                 class_weights: Mapping[str, float] | None = None) -> list[int]:
    """How many of ``num_samples`` each class gets: shares proportional to its weight (1 for a class not named in
    ``class_weights``), rounded by largest remainder, ties to the earlier class. Without weights every class gets
    ``num_samples // K`` and the first ``num_samples % K`` one more. Raises ValueError for an unknown class name or
    a weight that is not a finite number > 0."""
    weights = dict(class_weights or {})
    unknown = sorted(set(weights) - set(class_names))
    if unknown:
        raise ValueError(f"class_weights: unknown class(es) {', '.join(unknown)}; the classes are "
                         f"{', '.join(class_names)}")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < float("inf"):
            raise ValueError(f"class_weights.{name} must be a number > 0, got {weight!r}")
    shares = [Fraction(weights.get(name, 1)) for name in class_names]
    quotas = [num_samples * share / sum(shares) for share in shares]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda k: (counts[k] - quotas[k], k))
    for k in by_remainder[:num_samples - sum(counts)]:
        counts[k] += 1
    return counts


def make_synthetic_dataset(
    num_samples: int,
    resolution: int = 16,
    seed: int = 0,
    only_mask: bool = False,
    classes: Sequence[str] | None = None,
    class_weights: Mapping[str, float] | None = None,
) -> VoxelDataset:
    """A shuffled set of ``shapes`` objects, identical for identical arguments.

    Classes are balanced unless ``class_weights`` (class name -> relative weight, 1 where unnamed) gives some a
    larger share (``class_counts``). The i-th of a class's n samples has its main hue in stratum
    ``(i + offset) / n`` of the hue wheel (random per-class offset, uniform jitter within the stratum), so colours
    are spread evenly in every class. ``only_mask`` keeps just the alpha channel: voxels [N, 1, R, R, R]. The set
    keeps every object's main hue.
    """
    class_names = list(CLASS_NAMES if classes is None else classes)
    num_classes = len(class_names)
    seeds = np.random.SeedSequence(seed).spawn(num_classes + 1)
    counts = class_counts(num_samples, class_names, class_weights)
    labels = np.random.default_rng(seeds[-1]).permutation(np.repeat(np.arange(num_classes), counts))
    voxels = np.empty((num_samples, 1 if only_mask else 4) + (resolution,) * 3, dtype=np.float32)
    main_hues = np.empty(num_samples, dtype=np.float32)
    for k, (name, n) in enumerate(zip(class_names, counts)):
        rng = np.random.default_rng(seeds[k])
        hues = (np.arange(n) + rng.random() + rng.random(n)) / max(n, 1) % 1.0
        grids = make_shapes(name, resolution, rng, hues)
        voxels[labels == k] = grids[:, 3:] if only_mask else grids
        main_hues[labels == k] = hues
    return VoxelDataset(voxels, labels, class_names, np.minimum(main_hues, np.nextafter(np.float32(1), 0)))
