"""What the server needs from a model: the `Generator` protocol. The server depends only on this;
diffusion_core.pipeline.VoxelGenerator implements it, and so do the test fakes."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from blender_addon.shared.edits import Edit


class Step(Protocol):
    """One denoising step: `index` (0-based) of `total`; x_t and pred_x0 are model-space samples that only
    the generator's `to_voxels` interprets (latents for a latent model)."""

    index: int
    total: int
    x_t: Any
    pred_x0: Any


@runtime_checkable
class Generator(Protocol):
    """A class-conditional voxel generator.

    class_names: the classes, in label order. resolution R and channels C: the voxel grids it makes
    ([N, C, R, R, R]). max_steps: the most denoising steps a request may ask for. hue_conditional: whether it
    takes a main hue per object (`hues`; others get None).
    """

    model_name: str
    class_names: list[str]
    resolution: int
    channels: int
    hue_conditional: bool

    @property
    def max_steps(self) -> int: ...

    def generate_progressive(self, labels: Sequence[int], seeds: Sequence[int], steps: int, sampler: str, eta: float,
                             guidance: float, edit: Edit | None = None,
                             hues: Sequence[float | None] | None = None) -> Iterator[Step]:
        """One Step after each of `steps` steps (stop iterating to cancel); one label (class index) and
        one seed per object; `edit`: start from / keep a grid, or blend seeds; `hues`: a hue-conditional model's
        main hue per object (None: drawn from the seed). Invalid arguments raise ValueError before the first
        step."""

    def to_voxels(self, x: Any, edit: Edit | None = None) -> np.ndarray:
        """A step's x_t or pred_x0 [N, ...] -> float32 voxels [N, C, R, R, R] in [0, 1] (with the edit the
        sampling used: the voxels it keeps are pasted back exactly)."""

    def generate(self, labels: Sequence[int], seeds: Sequence[int], steps: int, sampler: str, eta: float,
                 guidance: float, edit: Edit | None = None,
                 hues: Sequence[float | None] | None = None) -> np.ndarray:
        """Sample to the end: float32 voxels [N, C, R, R, R] in [0, 1]."""
