"""DPM-Solver++(2M), ODE and SDE: full loops against diffusers' DPMSolverMultistepScheduler on the same inputs."""
from __future__ import annotations

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler

from diffusion_core.diffusion.gaussian import GaussianDiffusion
from diffusion_core.diffusion.samplers import sample, sample_progressive
from diffusion_core.diffusion.schedules import make_betas

SHAPE = (2, 4, 4, 4, 4)
SEEDS = (11, 12)
NULL = 9


def _reference(timesteps: list[int], clip: bool, algorithm: str = "dpmsolver++") -> DPMSolverMultistepScheduler:
    """diffusers' DPM-Solver++(2M) on our cosine schedule, alphas_cumprod in float64, walking `timesteps`
    (descending: ours, which start at 990, not at diffusers' 999).

    final_sigmas_type="zero" ends at sigma 0 with a first-order step, as ours does. Its only clipping is
    dynamic thresholding: with sample_max_value=1 the threshold s = clamp(quantile, 1, 1) = 1, a plain clip of
    x_0 to [-1, 1], which is our clip_x0=True. It is given only the eps half of a learned-variance output:
    its own variance_type="learned_range" split keeps channels [:3], for images.
    """
    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", algorithm_type=algorithm, solver_order=2,
        solver_type="midpoint", prediction_type="epsilon", final_sigmas_type="zero",
        thresholding=clip, dynamic_thresholding_ratio=0.995, sample_max_value=1.0,
    )
    scheduler.alphas_cumprod = torch.cumprod(1.0 - scheduler.betas.double(), dim=0)
    scheduler.set_timesteps(timesteps=timesteps)
    return scheduler


@pytest.mark.parametrize(("sampler", "algorithm"), [("dpmpp_2m", "dpmsolver++"), ("dpmpp_2m_sde", "sde-dpmsolver++")])
@pytest.mark.parametrize(("steps", "clip"), [(10, True), (25, False), (8, False)])
def test_dpmpp_2m_loop_with_guidance_matches_diffusers(sigma_model, sampler: str, algorithm: str, steps: int,
                                                       clip: bool) -> None:
    """Guided (CFG on eps, learned-variance output): every step's x_t and the final sample; the SDE gets our
    per-sample noise (none at the last step, where sigma_t = 0).

    diffusers keeps its sigmas in float32, which moves x_t by ~1e-6 relative per step; tolerance 1e-5.
    """
    diffusion = GaussianDiffusion(make_betas("cosine", 1000), learn_sigma=True)
    labels, scale = torch.tensor([2, 4]), 1.5
    ours = list(sample_progressive(sigma_model, diffusion, SHAPE, steps=steps, sampler=sampler, labels=labels,
                                   guidance=scale, null_label=NULL, seeds=SEEDS, clip_x0=clip, eta=0.0))
    scheduler = _reference([s.t for s in ours], clip, algorithm)
    generators = [torch.Generator().manual_seed(s) for s in SEEDS]
    draw = lambda: torch.stack([torch.randn(SHAPE[1:], generator=g) for g in generators])  # noqa: E731
    x = draw()
    null = torch.full_like(labels, NULL)
    for n, (step, t) in enumerate(zip(ours, scheduler.timesteps, strict=True)):
        tt = t.expand(SHAPE[0])
        cond, uncond = sigma_model(x, tt, y=labels)[:, :4], sigma_model(x, tt, y=null)[:, :4]
        noise = draw() if sampler == "dpmpp_2m_sde" and n < steps - 1 else torch.zeros(SHAPE)
        x = scheduler.step(uncond + scale * (cond - uncond), t, x, variance_noise=noise).prev_sample
        assert step.t == int(t)  # ours, from 990
        torch.testing.assert_close(step.x_t, x, rtol=1e-5, atol=1e-5)
    assert len(scheduler.timesteps) == steps and ours[0].t == 990


def test_dpmpp_2m_is_deterministic_batch_invariant_and_differs_from_ddim(sigma_model) -> None:
    diffusion = GaussianDiffusion(make_betas("cosine", 1000), learn_sigma=True)
    batch = sample(sigma_model, diffusion, (3, *SHAPE[1:]), steps=6, sampler="dpmpp_2m", seeds=[5, 6, 7], eta=0.0, guidance=1.0)
    alone = sample(sigma_model, diffusion, (1, *SHAPE[1:]), steps=6, sampler="dpmpp_2m", seeds=[6], eta=1.0, guidance=1.0)
    torch.testing.assert_close(alone[0], batch[1], rtol=0, atol=1e-6)  # eta is ignored: no noise after x_T
    ddim = sample(sigma_model, diffusion, (3, *SHAPE[1:]), steps=6, sampler="ddim", seeds=[5, 6, 7], eta=0.0, guidance=1.0)
    assert not torch.allclose(batch, ddim, atol=1e-3)
    sde = sample(sigma_model, diffusion, (3, *SHAPE[1:]), steps=6, sampler="dpmpp_2m_sde", seeds=[5, 6, 7], eta=0.0, guidance=1.0)
    sde_alone = sample(sigma_model, diffusion, (1, *SHAPE[1:]), steps=6, sampler="dpmpp_2m_sde", seeds=[6], eta=0.0, guidance=1.0)
    torch.testing.assert_close(sde_alone[0], sde[1], rtol=0, atol=1e-6)
    assert not torch.allclose(sde, batch, atol=1e-3)
