"""Deterministic stand-ins for the network: elementwise in x, so every sample is independent of its batch.

eps = 0.1 x cos(t) keeps x_0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) well conditioned. (A "realistic"
eps close to x_t makes that a cancellation amplified by 1/sqrt(abar): float32 implementations then differ
by ~1e-4 from each other and from float64, which would measure rounding, not the maths.)
"""
from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import Tensor

DummyModel = Callable[..., Tensor]


def _dummy_model(learn_sigma: bool) -> DummyModel:
    def model(x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        tt = t.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        eps = 0.1 * x * torch.cos(tt)
        v_shift = torch.sin(tt)
        if y is not None:
            label = torch.sin(y.to(x.dtype) + 1.0).view_as(tt)
            eps, v_shift = eps + 0.05 * label, v_shift + 0.2 * label
        if not learn_sigma:
            return eps
        return torch.cat([eps, torch.tanh(0.5 * x + v_shift)], dim=1)

    return model


@pytest.fixture
def eps_model() -> DummyModel:
    """eps(x, t[, y]) -> [B, C, ...]."""
    return _dummy_model(learn_sigma=False)


@pytest.fixture
def sigma_model() -> DummyModel:
    """(eps, v)(x, t[, y]) -> [B, 2C, ...] with v in [-1, 1]."""
    return _dummy_model(learn_sigma=True)
