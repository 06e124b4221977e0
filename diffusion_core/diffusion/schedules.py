"""Noise schedules: beta_t for t = 0..T-1 in float64, computed once by the diffusion object."""
from __future__ import annotations

from typing import Callable, Literal

import numpy as np

Schedule = Literal["linear", "cosine", "sigmoid"]

MAX_BETA = 0.999


def make_betas(schedule: Schedule, num_timesteps: int) -> np.ndarray:
    """Betas for a named schedule, float64 [num_timesteps], each clipped to at most 0.999.

    - "linear": Ho et al. (2020), 1e-4 .. 0.02 at T=1000, scaled by 1000/T so any T gives the same
      amount of noise overall (improved-diffusion's `get_named_beta_schedule("linear")`; the clip only
      matters below T = 21, where the scaled betas would pass 1).
    - "cosine": Nichol & Dhariwal (2021) eq. 17, alpha_bar(t) = cos^2((t + s) / (1 + s) * pi / 2) with
      s = 0.008, betas from eq. 18 clipped at 0.999.
    - "sigmoid": Chen (2023) "On the importance of noise scheduling", Algorithm 1 (the schedule of
      Jabri et al.'s RIN): alpha_bar(t) = (sigmoid(end/tau) - sigmoid((t(end - start) + start)/tau))
      / (sigmoid(end/tau) - sigmoid(start/tau)) with start=-3, end=3, tau=1, floored at 1e-9; betas
      as for cosine.
    """
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
    if schedule == "linear":
        scale = 1000.0 / num_timesteps
        return np.minimum(np.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=np.float64), MAX_BETA)
    if schedule == "cosine":
        return _betas_from_alpha_bar(_cosine_alpha_bar, num_timesteps)
    if schedule == "sigmoid":
        return _betas_from_alpha_bar(_sigmoid_alpha_bar, num_timesteps)
    raise ValueError(f"unknown schedule {schedule!r}; expected 'linear', 'cosine' or 'sigmoid'")


def _betas_from_alpha_bar(alpha_bar: Callable[[np.ndarray], np.ndarray], num_timesteps: int) -> np.ndarray:
    """beta_t = 1 - alpha_bar((t+1)/T) / alpha_bar(t/T), clipped at MAX_BETA (Nichol & Dhariwal eq. 18)."""
    ab = alpha_bar(np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps)
    return np.minimum(1.0 - ab[1:] / ab[:-1], MAX_BETA)


def _cosine_alpha_bar(t: np.ndarray, s: float = 0.008) -> np.ndarray:
    return np.cos((t + s) / (1.0 + s) * np.pi / 2.0) ** 2


def _sigmoid_alpha_bar(t: np.ndarray, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> np.ndarray:
    def sigmoid(z: np.ndarray | float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))

    v_start, v_end = sigmoid(start / tau), sigmoid(end / tau)
    ab = (v_end - sigmoid((t * (end - start) + start) / tau)) / (v_end - v_start)
    return np.clip(ab, 1e-9, 1.0)
