"""Samplers: full loops against diffusers' DDIMScheduler / DDPMScheduler, seeding, guidance, progress steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from diffusion_core.diffusion.gaussian import GaussianDiffusion
from diffusion_core.diffusion.samplers import (
    START_MIN_ALPHA,
    SampleStep,
    sample,
    sample_progressive,
    sampling_start,
    logsnr_timesteps,
    sampling_timesteps,
    spaced_timesteps,
    step_guidance,
)
from diffusion_core.diffusion.schedules import make_betas

SHAPE = (2, 4, 4, 4, 4)
SEEDS = (11, 12)
NULL = 9


def _diffusion(learn_sigma: bool) -> GaussianDiffusion:
    loss = "hybrid" if learn_sigma else "mse"
    return GaussianDiffusion(make_betas("cosine", 1000), learn_sigma=learn_sigma, loss=loss)


def _generators(seeds=SEEDS) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def _draw(generators: list[torch.Generator]) -> torch.Tensor:
    """The noise our sampler draws: one row per sample from its own generator."""
    return torch.stack([torch.randn(SHAPE[1:], generator=g) for g in generators])


def test_spaced_timesteps_are_diffusers_trailing_spacing() -> None:
    for steps in (1, 30, 50, 1000):
        scheduler = DDIMScheduler(num_train_timesteps=1000, timestep_spacing="trailing")
        scheduler.set_timesteps(steps)
        assert spaced_timesteps(1000, steps) == sorted(scheduler.timesteps.tolist())
    assert spaced_timesteps(1000, 1000) == list(range(1000))
    with pytest.raises(ValueError):
        spaced_timesteps(1000, 0)
    with pytest.raises(ValueError):
        spaced_timesteps(10, 11)


def test_trailing_spacing_from_a_later_first_timestep() -> None:
    assert spaced_timesteps(1000, 15, 990) == [65, 131, 197, 263, 329, 395, 461, 528, 594, 660, 726, 792, 858, 924, 990]
    assert spaced_timesteps(1000, 991, 990) == list(range(991))
    for bad in ((1000, 992, 990), (1000, 5, 1000), (1000, 5, -1)):
        with pytest.raises(ValueError):
            spaced_timesteps(*bad)


def test_logsnr_spacing_keeps_the_trailing_ends_and_spreads_evenly_in_log_snr() -> None:
    """25 steps from 990 on the cosine schedule: the trailing end points (39, 990), steps even in lambda (to the
    rounding of integer timesteps), dense at high noise; any count of steps, on any schedule, gives distinct
    ascending timesteps of 0..first ending at first (all of them when steps = first + 1)."""
    abar = _diffusion(False).alphas_cumprod
    picked = logsnr_timesteps(abar, 25, 990)
    assert (picked[0], picked[-1]) == (spaced_timesteps(1000, 25, 990)[0], 990)
    lam = 0.5 * (np.log(abar[picked]) - np.log1p(-abar[picked]))
    np.testing.assert_allclose(np.diff(lam), (lam[-1] - lam[0]) / 24, rtol=0.1)
    assert picked[-5:] == [971, 978, 983, 987, 990]  # trailing: ..., 911, 950, 990
    for schedule in ("cosine", "linear"):
        abar = GaussianDiffusion(make_betas(schedule, 1000), learn_sigma=False, loss="mse").alphas_cumprod
        for first in (990, 999, 300):
            for steps in (1, 2, 10, 100, 181, first, first + 1):
                got = logsnr_timesteps(abar, steps, first)
                assert len(got) == steps and got == sorted(set(got)) and got[0] >= 0 and got[-1] == first
            assert logsnr_timesteps(abar, first + 1, first) == list(range(first + 1))


def test_sampling_timesteps_picks_the_spacing_and_the_sampler_walks_them() -> None:
    diffusion = _diffusion(False)
    assert sampling_timesteps(diffusion, 15, 990, "trailing") == spaced_timesteps(1000, 15, 990)
    assert sampling_timesteps(diffusion, 15, 990, "logsnr") == logsnr_timesteps(diffusion.alphas_cumprod, 15, 990)
    with pytest.raises(ValueError, match="unknown spacing"):
        sampling_timesteps(diffusion, 15, 990, "karras")  # type: ignore[arg-type]
    steps = list(sample_progressive(lambda x, t: torch.zeros_like(x), diffusion, SHAPE, steps=15, sampler="dpmpp_2m_sde",
                                    eta=0.0, seeds=SEEDS, guidance=1.0, spacing="logsnr"))
    assert [s.t for s in steps] == logsnr_timesteps(diffusion.alphas_cumprod, 15, 990)[::-1]


def test_sampling_starts_where_the_signal_scale_reaches_the_floor() -> None:
    """Cosine, T=1000: sqrt(abar) is 5e-5 at 999 and 0.014 at 990, the first at or above START_MIN_ALPHA; more
    steps than 0..990 holds start later, up to T - 1; the walk really starts there."""
    diffusion = _diffusion(False)
    assert diffusion.sqrt_alphas_cumprod[990] >= START_MIN_ALPHA > diffusion.sqrt_alphas_cumprod[991]
    assert [sampling_start(diffusion, n) for n in (1, 15, 991, 995, 1000)] == [990, 990, 990, 994, 999]
    linear = GaussianDiffusion(make_betas("linear", 1000), learn_sigma=False, loss="mse")
    start = sampling_start(linear, 15)
    assert linear.sqrt_alphas_cumprod[start] >= START_MIN_ALPHA > linear.sqrt_alphas_cumprod[start + 1]
    steps = list(sample_progressive(lambda x, t: torch.zeros_like(x), diffusion, SHAPE, steps=15, sampler="ddim",
                                    eta=0.0, seeds=SEEDS, guidance=1.0))
    assert [s.t for s in steps] == spaced_timesteps(1000, 15, 990)[::-1]


def _ddim_reference() -> DDIMScheduler:
    # Our sampler, told to start at 999 (first=999, diffusers' start), uses "trailing" spacing (999, 979, ..., 19
    # for 50 of 1000 steps). With T divisible by the step count that list is uniform, so diffusers' stride
    # formula prev = t - T // steps lands on the same pairs
    # as our walk along one list; its last step goes to prev = -1, where set_alpha_to_one=True gives
    # abar_prev = 1, as our respaced timeline does (steps_offset only applies to "leading" spacing).
    # clip_sample=True with use_clipped_model_output=True (passed to step) matches our clipping of x_0 and
    # re-deriving eps from the clipped x_0.
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=True,
        clip_sample_range=1.0,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    scheduler.set_timesteps(50)
    return scheduler


def _assert_trajectories_match(ours: list[SampleStep], reference: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """x_t to 1e-5; pred_x0 to 1e-5 relative to its scale 1/sqrt(abar_t) (x_0 = (x_t - ...) / sqrt(abar_t)
    amplifies float32 rounding by up to ~2e4 at t = 999, in diffusers as much as here)."""
    alphas_cumprod = _diffusion(False).alphas_cumprod
    assert len(ours) >= len(reference)
    for step, (x_prev, pred_x0) in zip(ours, reference):
        torch.testing.assert_close(step.x_t, x_prev, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(step.pred_x0, pred_x0, rtol=1e-5, atol=1e-5 / np.sqrt(alphas_cumprod[step.t]))


@pytest.mark.parametrize("eta", [0.0, 0.6])
def test_full_50_step_ddim_loop_matches_diffusers(eps_model, eta: float) -> None:
    ours = list(sample_progressive(eps_model, _diffusion(False), SHAPE, steps=50, sampler="ddim", eta=eta, seeds=SEEDS,
                                   guidance=1.0, first=999))
    scheduler = _ddim_reference()
    generators = _generators()
    x = _draw(generators)
    reference = []
    for i, t in enumerate(scheduler.timesteps):
        last = i == len(scheduler.timesteps) - 1  # sigma is 0 there: our sampler draws no noise for it
        noise = torch.zeros(SHAPE) if last or eta == 0 else _draw(generators)
        out = scheduler.step(
            eps_model(x, t.expand(SHAPE[0])), t, x, eta=eta, use_clipped_model_output=True, variance_noise=noise
        )
        x = out.prev_sample
        reference.append((x, out.pred_original_sample))
    assert [s.t for s in ours] == scheduler.timesteps.tolist()
    _assert_trajectories_match(ours, reference)


@pytest.mark.parametrize(("steps", "compared"), [(30, 29), (1000, 1000)])
def test_ddpm_learned_range_loop_matches_diffusers(sigma_model, steps: int, compared: int) -> None:
    """Ancestral steps with learned-range variance and the same noise against diffusers, respaced to 30 steps
    and, for our sampler respaced to all 1000 steps, against diffusers' unrespaced chain (prev_t = t - 1).

    diffusers' alphas_cumprod are recomputed in float64 from its own betas: in float32, its
    beta_t = 1 - abar_t / abar_{t-1} loses ~1e-3 relative for betas ~4e-5, which moves x by ~1e-5 per step.
    diffusers treats the last respaced step (t=19 -> x_0) as t > 0 and adds noise with a log variance built
    from beta~ clamped at 1e-20, where our respaced chain ends noise-free, so that single step is not compared.
    """
    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        variance_type="learned_range",
        clip_sample=True,
        timestep_spacing="trailing",
    )
    scheduler.alphas_cumprod = torch.cumprod(1.0 - scheduler.betas.double(), dim=0)
    if steps != 1000:
        scheduler.set_timesteps(steps)  # walks its own list of timesteps: prev_t is the next entry
    ours = list(sample_progressive(sigma_model, _diffusion(True), SHAPE, steps=steps, sampler="ddpm", seeds=SEEDS,
                                   eta=0.0, guidance=1.0, first=999))
    generators = _generators()
    x = _draw(generators)
    reference = []
    for t in scheduler.timesteps[:compared]:
        out = scheduler.step(sigma_model(x, t.expand(SHAPE[0])), t, x, generator=generators)
        x = out.prev_sample
        assert x.dtype == torch.float32  # the float64 scalars do not promote the float32 tensors
        reference.append((x, out.pred_original_sample))
    assert [s.t for s in ours] == scheduler.timesteps.tolist()
    _assert_trajectories_match(ours, reference)


# Regression guard, written once by this implementation after the diffusers checks above passed:
# x.flatten()[::64][:8] at the middle step (index 12) and at the end of a 25-step loop. (This dummy model's
# DDIM samples end on the clip at +-1; the middle step is the sensitive one there.)
STORED = {
    "ddim": (
        [-1.076579, -1.727715, -1.383014, -1.660371, -0.815521, -1.736573, 1.239432, -1.268041],
        [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, -1.0],
    ),
    "ddpm": (
        [-1.109742, -0.692324, 0.128485, -0.379513, 1.724491, 0.618976, -0.219905, 0.656866],
        [-1.0, 0.150071, 1.0, -0.141197, 1.0, 1.0, -0.591497, 0.7025],
    ),
}


@pytest.mark.parametrize("sampler", list(STORED))
def test_full_loop_matches_stored_values(eps_model, sigma_model, sampler: str) -> None:
    model, learn_sigma = (sigma_model, True) if sampler == "ddpm" else (eps_model, False)
    steps = list(sample_progressive(model, _diffusion(learn_sigma), SHAPE, steps=25, sampler=sampler, seeds=SEEDS,
                                    eta=0.0, guidance=1.0, first=999))
    middle, final = STORED[sampler]
    np.testing.assert_allclose(steps[12].x_t.flatten()[::64][:8].numpy(), middle, rtol=0, atol=1e-5)
    np.testing.assert_allclose(steps[-1].x_t.flatten()[::64][:8].numpy(), final, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("sampler", "eta"), [("ddim", 0.0), ("ddim", 0.5), ("ddpm", 0.0)])
def test_seeded_runs_repeat_and_do_not_depend_on_the_batch(sigma_model, sampler: str, eta: float) -> None:
    diffusion = _diffusion(True)
    kwargs = dict(steps=10, sampler=sampler, eta=eta, guidance=1.0)
    batch = sample(sigma_model, diffusion, (3, *SHAPE[1:]), seeds=[5, 6, 7], **kwargs)
    again = sample(sigma_model, diffusion, (3, *SHAPE[1:]), seeds=[5, 6, 7], **kwargs)
    assert torch.equal(batch, again)
    alone = sample(sigma_model, diffusion, (1, *SHAPE[1:]), seeds=[6], **kwargs)
    torch.testing.assert_close(alone[0], batch[1], rtol=0, atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])


def test_ddim_eta0_depends_only_on_the_initial_noise(eps_model) -> None:
    """Deterministic: x_0 is a fixed function of x_T, while eta > 0 adds fresh noise every step."""
    diffusion = _diffusion(False)
    deterministic = sample(eps_model, diffusion, SHAPE, steps=20, eta=0.0, seeds=SEEDS, sampler="ddim", guidance=1.0,
                           first=999)
    stochastic = sample(eps_model, diffusion, SHAPE, steps=20, eta=1.0, seeds=SEEDS, sampler="ddim", guidance=1.0)
    assert not torch.allclose(deterministic, stochastic)
    scheduler = _ddim_reference()
    scheduler.set_timesteps(20)
    x = _draw(_generators())
    for t in scheduler.timesteps:  # diffusers' DDIM with eta=0 never draws noise
        x = scheduler.step(eps_model(x, t.expand(SHAPE[0])), t, x, eta=0.0, use_clipped_model_output=True).prev_sample
    torch.testing.assert_close(deterministic, x, rtol=1e-5, atol=1e-5)


def test_guidance_scale_one_equals_the_unguided_conditional_run(sigma_model) -> None:
    diffusion, labels = _diffusion(True), torch.tensor([2, 4])
    plain = sample(sigma_model, diffusion, SHAPE, steps=8, sampler="ddpm", labels=labels, seeds=SEEDS, eta=0.0, guidance=1.0)
    scale_one = sample(
        sigma_model, diffusion, SHAPE, steps=8, sampler="ddpm", labels=labels, guidance=1.0,
        null_label=NULL, seeds=SEEDS, eta=0.0,
    )
    assert torch.equal(plain, scale_one)


def test_guidance_runs_one_doubled_batch_and_mixes_only_eps(sigma_model) -> None:
    diffusion, labels, scale = _diffusion(True), torch.tensor([2, 4]), 3.0
    calls = []

    def recording(x, t, y):
        calls.append(y.clone())
        return sigma_model(x, t, y=y)

    def guided_by_hand(x, t, y):
        cond, uncond = sigma_model(x, t, y=y), sigma_model(x, t, y=torch.full_like(y, NULL))
        eps = uncond[:, :4] + scale * (cond[:, :4] - uncond[:, :4])
        return torch.cat([eps, cond[:, 4:]], dim=1)

    kwargs = dict(steps=6, sampler="ddpm", eta=0.0, labels=labels, seeds=SEEDS)
    guided = sample(recording, diffusion, SHAPE, guidance=scale, null_label=NULL, **kwargs)
    assert len(calls) == 6 and all(torch.equal(y, torch.tensor([2, 4, NULL, NULL])) for y in calls)
    torch.testing.assert_close(guided, sample(guided_by_hand, diffusion, SHAPE, guidance=1.0, **kwargs), rtol=0, atol=1e-6)
    unguided = sample(sigma_model, diffusion, SHAPE, guidance=1.0, **kwargs)
    assert not torch.allclose(guided, unguided)
    with pytest.raises(ValueError, match="null_label"):
        sample(sigma_model, diffusion, SHAPE, guidance=scale, **kwargs)


def _sigma(diffusion: GaussianDiffusion, t: int) -> float:
    abar = float(diffusion.alphas_cumprod[t])
    return float(np.sqrt((1.0 - abar) / abar))


@pytest.mark.parametrize("interval", [(0.28, 5.42), (0.0, 10.0), (1.0, 2.0)])
def test_guidance_runs_only_where_sigma_is_in_the_interval(sigma_model, interval) -> None:
    """A doubled (guided) batch exactly at the steps with low < sigma <= high, one conditional pass elsewhere;
    (0.28, 5.42] leaves the two noisiest (990, 924) and the last two (131, 65) of 15 steps unguided."""
    diffusion, labels = _diffusion(True), torch.tensor([2, 4])
    calls: list[tuple[int, list[int]]] = []

    def recording(x, t, y):
        calls.append((int(t[0]), y.tolist()))
        return sigma_model(x, t, y=y)

    steps = list(sample_progressive(recording, diffusion, SHAPE, steps=15, sampler="dpmpp_2m_sde", eta=0.0,
                                    labels=labels, guidance=1.5, null_label=NULL, seeds=SEEDS,
                                    guidance_interval=interval))
    assert [t for t, _ in calls] == [s.t for s in steps]
    for t, y in calls:
        inside = interval[0] < _sigma(diffusion, t) <= interval[1]
        assert y == ([2, 4, NULL, NULL] if inside else [2, 4]), (t, y)
    unguided = [t for t, y in calls if len(y) == 2]
    if interval == (0.28, 5.42):
        assert unguided == [990, 924, 131, 65]
    assert 0 < len(unguided) < 15  # every interval here guides some steps and not others
    assert step_guidance(0.5, 0.0, interval) == 0.0  # guidance 0 stays unconditional outside the interval


def test_progress_steps_are_yielded_outside_inference_mode(eps_model) -> None:
    steps = list(sample_progressive(eps_model, _diffusion(False), SHAPE, steps=5, seeds=SEEDS, sampler="ddim", eta=0.0, guidance=1.0))
    assert [s.index for s in steps] == list(range(5)) and {s.total for s in steps} == {5}
    assert [s.t for s in steps] == [990, 792, 594, 395, 197]
    for step in sample_progressive(eps_model, _diffusion(False), SHAPE, steps=5, seeds=SEEDS, sampler="ddim", eta=0.0, guidance=1.0):
        assert not torch.is_inference_mode_enabled()  # the caller's code between steps runs normally
        assert step.x_t.is_inference() and step.x_t.shape == SHAPE
        assert step.pred_x0.abs().max() <= 1.0
        break  # stopping early (cancel) is just leaving the loop


def test_bad_arguments_are_rejected(eps_model) -> None:
    diffusion = _diffusion(False)
    with pytest.raises(ValueError, match="one seed per sample"):
        sample(eps_model, diffusion, SHAPE, steps=2, seeds=[1], sampler="ddim", eta=0.0, guidance=1.0)
    with pytest.raises(ValueError, match="sampler"):
        sample(eps_model, diffusion, SHAPE, steps=2, sampler="euler", seeds=SEEDS, eta=0.0, guidance=1.0)
    with pytest.raises(ValueError, match="eta"):
        sample(eps_model, diffusion, SHAPE, steps=2, eta=-0.1, seeds=SEEDS, sampler="ddim", guidance=1.0)
