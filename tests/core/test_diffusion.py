"""GaussianDiffusion: forward process vs diffusers, the vb term, gradient routing, respacing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from diffusion_core.diffusion.gaussian import (
    LATENT_CLIP_X0,
    DiffusionConfig,
    GaussianDiffusion,
    discretized_gaussian_log_likelihood,
)
from diffusion_core.diffusion.schedules import make_betas

SHAPE = (2, 4, 4, 4, 4)


def _diffusion(learn_sigma: bool = True, loss: str = "hybrid") -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("cosine", 1000), learn_sigma=learn_sigma, loss=loss)


def test_from_config_builds_the_named_schedule() -> None:
    cfg = DiffusionConfig(num_timesteps=50, schedule="linear", learn_sigma=False, loss="mse", vb_weight=0.5)
    diffusion = GaussianDiffusion.from_config(cfg)
    assert diffusion.num_timesteps == 50
    np.testing.assert_array_equal(diffusion.betas, make_betas("linear", 50))
    assert (diffusion.learn_sigma, diffusion.loss, diffusion.vb_weight) == (False, "mse", 0.5)


def test_alphas_cumprod_and_q_sample_match_diffusers_add_noise() -> None:
    diffusion = _diffusion()
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    np.testing.assert_allclose(diffusion.alphas_cumprod[:-1], scheduler.alphas_cumprod[:-1].double(), rtol=1e-5)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(SHAPE, generator=gen) * 2 - 1
    noise = torch.randn(SHAPE, generator=gen)
    for t in ([0, 1], [500, 998], [999, 250]):
        steps = torch.tensor(t)
        ours = diffusion.q_sample(x0, steps, noise)
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours, scheduler.add_noise(x0, noise, steps), rtol=1e-5, atol=1e-5)


def test_posterior_recovers_x_t_minus_1_statistics() -> None:
    """The posterior mean is the x_0, x_t interpolation of DDPM eq. 7, with beta~_t the variance."""
    diffusion = _diffusion()
    x0, x_t = torch.full((1, 1, 2, 2, 2), 0.5), torch.full((1, 1, 2, 2, 2), -0.25)
    t = torch.tensor([10])
    mean, variance, log_variance = diffusion.q_posterior_mean_variance(x0, x_t, t)
    ab, ab_prev, beta = diffusion.alphas_cumprod[10], diffusion.alphas_cumprod[9], diffusion.betas[10]
    expected_mean = np.sqrt(ab_prev) * beta / (1 - ab) * 0.5 + np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * -0.25
    torch.testing.assert_close(mean, torch.full_like(mean, expected_mean))
    torch.testing.assert_close(variance, torch.full_like(variance, (1 - ab_prev) / (1 - ab) * beta))
    torch.testing.assert_close(log_variance, variance.log())


def _true_posterior_output(diffusion: GaussianDiffusion, noise: torch.Tensor) -> torch.Tensor:
    """A network output whose eps is the true noise and whose v = -1 selects the posterior variance beta~_t."""
    if not diffusion.learn_sigma:
        return noise
    return torch.cat([noise, -torch.ones_like(noise)], dim=1)


@pytest.mark.parametrize("learn_sigma", [True, False])
def test_kl_is_zero_for_the_true_posterior_and_positive_otherwise(learn_sigma: bool) -> None:
    diffusion = _diffusion(learn_sigma=learn_sigma, loss="hybrid" if learn_sigma else "mse")
    gen = torch.Generator().manual_seed(1)
    x0 = (torch.rand(SHAPE, generator=gen) * 2 - 1).double()
    noise = torch.randn(SHAPE, generator=gen).double()
    # (At t = 999 of the cosine schedule beta_t and beta~_t nearly coincide, so a wrong v costs ~nothing there.)
    for t in (torch.tensor([1, 500]), torch.tensor([40, 300])):
        x_t = diffusion.q_sample(x0, t, noise)
        exact = _true_posterior_output(diffusion, noise)
        torch.testing.assert_close(diffusion.vb_terms_bpd(exact, x0, x_t, t), torch.zeros(2, dtype=torch.float64))
        wrong_mean = _true_posterior_output(diffusion, noise + 0.1)
        assert torch.all(diffusion.vb_terms_bpd(wrong_mean, x0, x_t, t) > 1e-6)
        if learn_sigma:
            wrong_variance = torch.cat([noise, torch.full_like(noise, 0.5)], dim=1)
            assert torch.all(diffusion.vb_terms_bpd(wrong_variance, x0, x_t, t) > 1e-6)


def test_t0_term_is_the_discretized_decoder_nll() -> None:
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randint(0, 256, SHAPE, generator=gen) / 255.0 * 2 - 1  # on the 256 bin centres
    noise = torch.randn(SHAPE, generator=gen)
    t = torch.zeros(2, dtype=torch.long)
    x_t = diffusion.q_sample(x0, t, noise)
    out = torch.cat([noise, torch.zeros_like(noise)], dim=1)
    p = diffusion.p_mean_variance(out, x_t, t, clip_x0=False)
    expected = -discretized_gaussian_log_likelihood(x0, p["mean"], 0.5 * p["log_variance"]).flatten(1).mean(1)
    vb = diffusion.vb_terms_bpd(out, x0, x_t, t)
    torch.testing.assert_close(vb, expected / np.log(2.0))
    assert torch.all(vb > 0)


def test_discretized_likelihood_is_a_distribution_over_the_256_bins() -> None:
    centres = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in ((0.0, -3.0), (0.97, -5.0), (-0.3, 0.5)):
        log_p = discretized_gaussian_log_likelihood(
            centres, torch.full_like(centres, mean), torch.full_like(centres, log_scale)
        )
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def _parameter_model(out: torch.Tensor):
    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return out

    return model


def test_vb_gradient_reaches_the_variance_channels_but_not_the_mean() -> None:
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(3)
    x0 = torch.rand(SHAPE, generator=gen) * 2 - 1
    out = (torch.randn((2, 8, 4, 4, 4), generator=gen) * 0.5).requires_grad_()
    t = torch.tensor([0, 300])  # the decoder NLL and a KL term
    losses = diffusion.training_losses(_parameter_model(out), x0, t, {}, noise=torch.randn(SHAPE, generator=gen))
    (grad_vb,) = torch.autograd.grad(losses["vb"].sum(), out, retain_graph=True)
    assert torch.all(grad_vb[:, :4] == 0)
    assert torch.all(grad_vb[:, 4:].flatten(1).abs().sum(1) > 0)
    (grad_mse,) = torch.autograd.grad(losses["mse"].sum(), out, retain_graph=True)
    assert torch.all(grad_mse[:, 4:] == 0) and grad_mse[:, :4].abs().sum() > 0
    (grad_loss,) = torch.autograd.grad(losses["loss"].sum(), out)
    torch.testing.assert_close(grad_loss, grad_mse + diffusion.vb_weight * 1000 * grad_vb)


@pytest.mark.parametrize("loss", ["hybrid", "mse"])
def test_training_losses_combine_mse_and_vb(loss: str) -> None:
    diffusion = _diffusion(loss=loss)
    gen = torch.Generator().manual_seed(4)
    x0 = torch.rand(SHAPE, generator=gen) * 2 - 1
    noise = torch.randn(SHAPE, generator=gen)
    seen = {}

    def model(x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.update(t=t, y=y)
        return torch.cat([0.5 * x_t, torch.zeros_like(x_t)], dim=1)

    t = torch.tensor([3, 700])
    losses = diffusion.training_losses(model, x0, t, {"y": torch.tensor([1, 2])}, noise=noise)
    assert set(losses) == {"loss", "mse", "vb"} and all(v.shape == (2,) for v in losses.values())
    x_t = diffusion.q_sample(x0, t, noise)
    torch.testing.assert_close(losses["mse"], ((noise - 0.5 * x_t) ** 2).flatten(1).mean(1))
    # IDDPM eq. 16 with L_vlb estimated as T * L_t.
    expected = losses["mse"] + (0.001 * 1000 * losses["vb"] if loss == "hybrid" else 0)
    torch.testing.assert_close(losses["loss"], expected)
    assert torch.equal(seen["t"], t) and torch.equal(seen["y"], torch.tensor([1, 2]))


def test_the_x0_clip_is_the_models_or_the_default_of_its_space() -> None:
    assert DiffusionConfig().x0_clip(latent=False) == 1.0 and DiffusionConfig().x0_clip(latent=True) == LATENT_CLIP_X0
    assert DiffusionConfig(clip_x0=4).x0_clip(latent=True) == DiffusionConfig(clip_x0=4).x0_clip(latent=False) == 4.0
    for bad in (0, -1.0, "4"):
        with pytest.raises(ValueError, match="clip_x0"):
            DiffusionConfig(clip_x0=bad)


def test_invalid_configurations_are_rejected() -> None:
    with pytest.raises(ValueError, match="learn_sigma"):
        GaussianDiffusion(make_betas("cosine", 10), learn_sigma=False, loss="hybrid")
    diffusion = _diffusion()
    with pytest.raises(ValueError, match="channels"):
        diffusion.p_mean_variance(torch.zeros(SHAPE), torch.zeros(SHAPE), torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        diffusion.respace([0, 1000])


def test_respacing_to_every_timestep_reproduces_the_diffusion() -> None:
    diffusion = _diffusion()
    full = diffusion.respace(range(1000))
    np.testing.assert_array_equal(full.timestep_map, np.arange(1000))
    for name in (
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance",
        "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
    ):
        np.testing.assert_allclose(getattr(full, name), getattr(diffusion, name), rtol=1e-12, atol=1e-15)


def test_respacing_keeps_alphas_cumprod_and_composes() -> None:
    diffusion = _diffusion()
    kept = [0, 5, 100, 420, 999]
    spaced = diffusion.respace(kept)
    assert spaced.num_timesteps == 5 and spaced.learn_sigma and spaced.loss == "hybrid"
    # 1 - beta loses digits where beta is near 1 (the last kept step): float64 still gives ~1e-8.
    np.testing.assert_allclose(spaced.alphas_cumprod, diffusion.alphas_cumprod[kept], rtol=1e-7)
    assert torch.equal(spaced.map_timesteps(torch.tensor([4, 0, 2])), torch.tensor([999, 0, 100]))
    twice = spaced.respace([1, 3, 4])
    np.testing.assert_array_equal(twice.timestep_map, [5, 420, 999])
    np.testing.assert_allclose(twice.alphas_cumprod, diffusion.alphas_cumprod[[5, 420, 999]], rtol=1e-7)
    # Learned sigmas interpolate between the respaced beta_t and beta~_t.
    t, x = torch.tensor([2]), torch.zeros((1, 1, 1, 1, 1), dtype=torch.float64)
    low = spaced.p_mean_variance(torch.cat([x, -torch.ones_like(x)], dim=1), x, t)["log_variance"]
    high = spaced.p_mean_variance(torch.cat([x, torch.ones_like(x)], dim=1), x, t)["log_variance"]
    ab_prev, ab = diffusion.alphas_cumprod[5], diffusion.alphas_cumprod[100]
    beta = 1 - ab / ab_prev
    assert high.item() == pytest.approx(np.log(beta), rel=1e-9)
    assert low.item() == pytest.approx(np.log(beta * (1 - ab_prev) / (1 - ab)), rel=1e-9)
