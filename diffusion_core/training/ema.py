"""Exponential moving average of a model's weights, with the usual warm-up of the decay."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps `module`, a frozen copy of the model whose weights trail the live ones.

    decay_n = min(decay, (1 + n) / (10 + n)) after n updates, so early averages are not
    dominated by the random initialisation. Float tensors are averaged; integer buffers copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, num_updates: int) -> None:
        """Move the shadow weights towards `model`'s; `num_updates` counts updates so far (>= 1)."""
        decay = min(self.decay, (1 + num_updates) / (10 + num_updates))
        live = model.state_dict()
        for name, shadow in self.module.state_dict().items():
            if shadow.is_floating_point():
                shadow.lerp_(live[name].to(shadow.dtype), 1.0 - decay)
            else:
                shadow.copy_(live[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow weights, keyed like the model's own state_dict."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
