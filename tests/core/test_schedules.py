"""Beta schedules, checked against diffusers' DDPMScheduler as an independent reference."""
from __future__ import annotations

import numpy as np
import pytest
from diffusers import DDPMScheduler

from diffusion_core.diffusion.schedules import make_betas


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        # Our linear schedule at T=1000 is Ho et al.'s 1e-4 .. 0.02 (scale 1000/T = 1).
        ("linear", {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}),
        # diffusers' "squaredcos_cap_v2" is the Nichol & Dhariwal cosine schedule (s=0.008, max beta 0.999).
        ("cosine", {"beta_schedule": "squaredcos_cap_v2"}),
    ],
)
def test_betas_and_alphas_cumprod_match_diffusers(ours: str, reference: dict) -> None:
    betas = make_betas(ours, 1000)
    scheduler = DDPMScheduler(num_train_timesteps=1000, **reference)
    assert betas.dtype == np.float64 and betas.shape == (1000,)
    # diffusers keeps float32: compare to float32 precision.
    np.testing.assert_allclose(betas, scheduler.betas.double().numpy(), rtol=1e-6, atol=1e-9)
    # alphas_cumprod falls to ~4e-5 (linear) and ~2e-9 (cosine): relative tolerance. The last cosine beta is
    # clipped to 0.999, where float32 holds 1 - beta = 1e-3 only to ~6e-5 relative, hence the looser last step.
    alphas_cumprod, reference_cumprod = np.cumprod(1.0 - betas), scheduler.alphas_cumprod.double().numpy()
    np.testing.assert_allclose(alphas_cumprod[:-1], reference_cumprod[:-1], rtol=1e-5)
    np.testing.assert_allclose(alphas_cumprod[-1], reference_cumprod[-1], rtol=1e-4)


def test_linear_schedule_scales_with_num_timesteps() -> None:
    betas = make_betas("linear", 50)
    np.testing.assert_allclose(betas[[0, -1]], [1e-4 * 20, 0.02 * 20])
    assert np.all(np.diff(betas) > 0)


def test_sigmoid_schedule_follows_its_closed_form() -> None:
    betas = make_betas("sigmoid", 1000)
    alphas_cumprod = np.cumprod(1.0 - betas)
    assert betas.dtype == np.float64
    assert np.all(np.diff(alphas_cumprod) < 0)
    assert np.all((betas > 0) & (betas <= 0.999))
    # alpha_bar(t) for start=-3, end=3, tau=1 is symmetric about t=1/2, where it is exactly 1/2.
    assert alphas_cumprod[499] == pytest.approx(0.5, abs=1e-12)
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    t = 0.25
    expected = (sigmoid(3.0) - sigmoid(6.0 * t - 3.0)) / (sigmoid(3.0) - sigmoid(-3.0))
    assert alphas_cumprod[249] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "sigmoid"])
def test_every_schedule_is_a_valid_float64_noise_schedule(schedule: str) -> None:
    for num_timesteps in (1, 7, 1000):
        betas = make_betas(schedule, num_timesteps)
        assert betas.dtype == np.float64 and betas.shape == (num_timesteps,)
        assert np.all((betas > 0) & (betas <= 0.999))


def test_unknown_schedule_or_empty_timeline_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown schedule"):
        make_betas("quadratic", 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        make_betas("cosine", 0)
