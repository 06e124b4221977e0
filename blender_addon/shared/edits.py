"""How a generation departs from plain sampling (numpy only; the core samples it, the server and add-on send it).

Block-out to object (SDEdit): start from `init` at `strength`. Regenerate a region (inpainting): `init` plus a
`region` mask; every voxel outside the region keeps init's value exactly. Blend seeds: object i draws its noise
between its seed and `blend_seeds[i]` at `blend_weights[i]`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Edit:
    """init: float32 [N, C, R, R, R] in [0, 1] (alpha last), one grid per object, or None.
    strength in [0, 1]: how much of the sampling runs from init (1: plain generation, the same object as
    without init for the same seed; 0: init itself, through the VAE for a latent model). Needs init below 1.
    region: bool [N, R, R, R] or None: regenerate only where True (needs init).
    blend_seeds / blend_weights: [N] each, or None: object i mixes its seed's noise with blend_seeds[i]'s,
    weight 0 being its own seed's object and 1 the other's."""

    init: np.ndarray | None = None
    strength: float = 1.0
    region: np.ndarray | None = None
    blend_seeds: Sequence[int] | None = None
    blend_weights: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if self.init is not None and (self.init.ndim != 5 or not np.isfinite(self.init).all()):
            raise ValueError(f"init must be finite voxels [N, C, R, R, R], got shape {self.init.shape}")
        if self.init is None and self.from_grid:
            raise ValueError("a strength below 1 or a region needs an init grid to start from")
        if self.region is not None and (self.region.dtype != np.bool_ or self.region.shape != self.init.shape[:1]
                                        + self.init.shape[2:]):
            raise ValueError(f"region must be bool [N, R, R, R] matching init, got {self.region.dtype} "
                             f"{self.region.shape}")
        if (self.blend_seeds is None) != (self.blend_weights is None):
            raise ValueError("blend_seeds and blend_weights go together")
        if self.blend_weights is not None and (len(self.blend_seeds) != len(self.blend_weights)
                                               or not all(0.0 <= w <= 1.0 for w in self.blend_weights)):
            raise ValueError("a blend needs one seed and one weight in [0, 1] per object")

    @property
    def from_grid(self) -> bool:
        """Made from its init grid: started from it (strength below 1) or keeping it around a region (at strength 1
        without a region, init plays no part: plain generation)."""
        return self.strength < 1.0 or self.region is not None

    @property
    def count(self) -> int | None:
        """The number of objects the edit describes (None: any)."""
        if self.init is not None:
            return len(self.init)
        return None if self.blend_seeds is None else len(self.blend_seeds)
