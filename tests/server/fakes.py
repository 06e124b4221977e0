"""A fake model for server tests: a server.contract.Generator whose every object is one fixed grid."""
from __future__ import annotations

import numpy as np


class FixedGridModel:
    """Every object is `grid` float32 [C, R, R, R]; each step reports its index (x_t and pred_x0: the count). The
    last sampling's `hues` are kept (set hue_conditional on an instance to serve it as a model that takes them)."""

    max_steps = 10
    hue_conditional = False

    def __init__(self, grid: np.ndarray, model_name: str, class_name: str) -> None:
        self.grid, self.model_name, self.class_names = grid, model_name, [class_name]
        self.channels, self.resolution = grid.shape[0], grid.shape[-1]

    def generate_progressive(self, labels, seeds, steps, sampler, eta, guidance, edit=None, hues=None):
        self.hues = hues
        for i in range(steps):
            yield type("Step", (), {"index": i, "total": steps, "x_t": len(labels), "pred_x0": len(labels)})

    def to_voxels(self, x, edit=None):
        return np.repeat(self.grid[None], x, axis=0)

    def generate(self, labels, seeds, steps, sampler, eta, guidance, edit=None, hues=None):
        return self.to_voxels(len(labels))
