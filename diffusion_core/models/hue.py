"""The colour condition: an object's main hue, given to the denoiser apart from its shape.

The synthetic data gives every object a main hue, stratified over the wheel, from which its parts' colours
derive (``data.shapes``). A hue-conditional UNet (``UNetConfig.hue_conditional``) receives that hue as a
circular embedding (``unet.HueEmbedding``, of ``hue_features``) added to the timestep embedding, beside the class embedding, so the network need not
discover the distribution of colours on its own: the sampler draws the hue (uniform on the wheel, from the
sample's seed, as the data draws it) or the artist picks it. NaN means "no hue" (the dropped condition of
training, and what a model is asked without one).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

HUE_STREAM = 0x48554531
"""Mixed into a sample's seed for its drawn hue, so the hue is not the seed's first noise value."""


def hue_features(hue: Tensor) -> Tensor:
    """Hues [B] in [0, 1) (NaN: none) -> float32 features [B, 3]: (cos 2πh, sin 2πh, 1) or (0, 0, 0) for none."""
    known = ~torch.isnan(hue)
    angle = 2 * torch.pi * torch.where(known, hue, torch.zeros_like(hue)).float()
    flag = known.float()
    return torch.stack([torch.cos(angle) * flag, torch.sin(angle) * flag, flag], dim=1)


def seed_hues(seeds: Sequence[int]) -> list[float]:
    """One hue in [0, 1) per seed, uniform on the wheel: the hue a sample gets when none is asked for (the same
    for a seed alone or in a batch)."""
    return [float(np.random.default_rng([int(seed), HUE_STREAM]).random()) for seed in seeds]


def validate_hue(hue: object) -> float | None:
    """A requested hue: None (draw it from the seed) or a finite number, wrapped into [0, 1). Raises ValueError."""
    if hue is None:
        return None
    if isinstance(hue, bool) or not isinstance(hue, (int, float)) or not np.isfinite(hue):
        raise ValueError(f"hue must be a finite number (turns of the colour wheel) or None, got {hue!r}")
    return float(hue) % 1.0
