"""What the measurement scripts share (pieces_apart, threshold_sizes, join_floor_sweep): their sampling arguments,
the samples of one class, and the data's occupied voxels per class to compare sizes with.

Imported as a sibling module (a script's own folder is first on sys.path).
"""
from __future__ import annotations

import argparse

import numpy as np

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.pipeline import VoxelGenerator

DATA_SEED = 9005  # the held-out synthetic shapes the scripts compare sizes with (no run trains on it)


def sampling_parser(description: str, n: int, classes: str | None = None) -> argparse.ArgumentParser:
    """A parser with --checkpoint, --n (samples per class, default n), --seed and, given a default, --classes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--checkpoint", default="models/default_16.safetensors")
    p.add_argument("--n", type=int, default=n, help="samples per class")
    p.add_argument("--seed", type=int, default=300000, help="class k, sample i gets seed + 1000 k + i")
    if classes is not None:
        p.add_argument("--classes", default=classes, help="comma-separated class names")
    return p


def class_seeds(seed: int, k: int, n: int) -> list[int]:
    """The sample seeds of class k: seed + 1000 k + i for i < n."""
    return [seed + 1000 * k + i for i in range(n)]


def sample_class(gen: VoxelGenerator, k: int, n: int, seed: int) -> np.ndarray:
    """-> float32 voxels [n, C, R, R, R] of class k at the default settings, raw (pieces as sampled)."""
    return gen.generate([k] * n, class_seeds(seed, k, n))


def data_occupancy(gen: VoxelGenerator, threshold: float, per_class: int = 64) -> np.ndarray:
    """-> float [K]: the mean occupied voxels (alpha >= threshold) per object of each class in the data."""
    data = make_synthetic_dataset(per_class * len(gen.class_names), resolution=gen.resolution, seed=DATA_SEED)
    occupied = (data.grids[:, -1] >= threshold).sum((1, 2, 3))
    return np.array([occupied[data.labels == k].mean() for k in range(len(gen.class_names))])
