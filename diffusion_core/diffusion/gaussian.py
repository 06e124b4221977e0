"""Gaussian diffusion (Ho et al. 2020; Nichol & Dhariwal 2021): forward process, posterior, losses, respacing.

The schedule arrays are computed once in float64 (numpy) and gathered per batch into the input's dtype
and device. The network is passed in, never owned (improved-diffusion style). Equation numbers refer to
Ho et al. 2020 ("DDPM") and Nichol & Dhariwal 2021 ("IDDPM").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from .schedules import Schedule, make_betas

LossType = Literal["mse", "hybrid"]

LATENT_CLIP_X0 = 6.0
"""Samplers clip latent x_0 predictions to [-6, 6] unless a model says otherwise (DiffusionConfig.clip_x0).
Normalised latents have per-channel std 1 and heavy tails: 6% of encoded data values lie beyond +-2, and the
colour lives there. Measured on the default 16^3 model at the default settings (16 per class, seeds 300000+,
README "What fixed the colours"): clipping at 2 kept shapes but collapsed hues onto red-yellow and darkened them
(value 0.65 against the data's 0.79); 4 and 5 still darker; 6 matches the data's hue spread and value;
per-channel data ranges and no clipping give oversized blobs."""


@dataclass(frozen=True)
class DiffusionConfig:
    """The diffusion process a model was trained for, plus `clip_x0`: samplers clip every x_0 prediction to
    [-clip_x0, clip_x0] (a sampling choice, measured per model; None: the default of the model's space,
    see x0_clip). Only clip_x0 may change when a run is resumed."""

    num_timesteps: int = 1000
    schedule: Schedule = "cosine"
    learn_sigma: bool = True
    loss: LossType = "hybrid"
    vb_weight: float = 0.001
    clip_x0: float | None = None

    def __post_init__(self) -> None:
        if self.clip_x0 is not None and not (isinstance(self.clip_x0, (int, float)) and self.clip_x0 > 0):
            raise ValueError(f"diffusion.clip_x0 must be a positive number or null, got {self.clip_x0!r}")

    def x0_clip(self, latent: bool) -> float:
        """The x_0 clip samplers use: clip_x0, else 1 (the data range) for voxel-space models and
        LATENT_CLIP_X0 for latent models."""
        if self.clip_x0 is not None:
            return float(self.clip_x0)
        return LATENT_CLIP_X0 if latent else 1.0


def extract(values: np.ndarray, t: Tensor, like: Tensor) -> Tensor:
    """values[t] as a [B, 1, ..., 1] tensor in `like`'s dtype and device (broadcasts over [B, C, R, R, R]).

    Indexing and the float64 -> dtype cast happen on the CPU, so devices without float64 work too.
    """
    picked = torch.from_numpy(values[t.detach().cpu().numpy()]).to(like.dtype).to(like.device)
    return picked.view(-1, *([1] * (like.ndim - 1)))


def mean_flat(x: Tensor) -> Tensor:
    """Mean over all but the batch dimension: [B, ...] -> [B]."""
    return x.flatten(1).mean(dim=1)


class GaussianDiffusion:
    """Epsilon-predicting diffusion with fixed ("fixed small") or learned-range variance.

    A network output has C channels (eps) or, with learn_sigma, 2C channels (eps, v) for data x of C channels.
    Every `t` argument is a LongTensor [B] of indices into THIS diffusion's timeline (which may be a respaced
    subset of the training timeline; `map_timesteps` gives the timesteps the network was trained on).
    """

    def __init__(
        self,
        betas: np.ndarray,
        *,
        learn_sigma: bool = True,
        loss: LossType = "hybrid",
        vb_weight: float = 0.001,
        timestep_map: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0 or not np.all((betas > 0) & (betas <= 1)):
            raise ValueError("betas must be a non-empty 1-D array in (0, 1]")
        if loss not in ("mse", "hybrid"):
            raise ValueError(f"unknown loss {loss!r}; expected 'mse' or 'hybrid'")
        if loss == "hybrid" and not learn_sigma:
            raise ValueError("the hybrid loss trains the variance channels: it needs learn_sigma=True")
        num_timesteps = betas.size
        timestep_map = np.arange(num_timesteps) if timestep_map is None else np.asarray(timestep_map)
        if timestep_map.shape != (num_timesteps,):
            raise ValueError(f"timestep_map needs {num_timesteps} entries, got {timestep_map.shape}")

        self.learn_sigma = learn_sigma
        self.loss = loss
        self.vb_weight = vb_weight
        self.timestep_map = timestep_map.astype(np.int64)
        self.betas = betas
        self.log_betas = np.log(betas)
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        # q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)   (DDPM eq. 4)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        # eq. 4 solved for x_0: x_0 = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1.0)
        # q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I)   (DDPM eqs. 6-7)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # beta~_0 = 0: its log is clipped to beta~_1 (improved-diffusion); a 1-step timeline falls back to beta_0.
        first = self.posterior_variance[1] if num_timesteps > 1 else betas[0]
        self.posterior_log_variance_clipped = np.log(np.append(first, self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    @classmethod
    def from_config(cls, cfg: DiffusionConfig) -> GaussianDiffusion:
        return cls(
            make_betas(cfg.schedule, cfg.num_timesteps),
            learn_sigma=cfg.learn_sigma,
            loss=cfg.loss,
            vb_weight=cfg.vb_weight,
        )

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.size)

    def map_timesteps(self, t: Tensor) -> Tensor:
        """Indices into this timeline [B] -> the training-timeline timesteps the network expects [B] (long)."""
        return torch.from_numpy(self.timestep_map).to(t.device)[t]

    def respace(self, timesteps: Sequence[int]) -> GaussianDiffusion:
        """A diffusion over a subset of this timeline (improved-diffusion's respacing, by composition).

        Keeps alphas_cumprod at `timesteps` and recomputes beta_i = 1 - abar_i / abar_{i-1} between kept
        steps, so the learned-range variance (between the new beta and beta~) keeps working in fewer steps.
        """
        keep = np.unique(np.asarray(timesteps, dtype=np.int64))
        if keep.size == 0 or keep[0] < 0 or keep[-1] >= self.num_timesteps:
            raise ValueError(f"timesteps must be a non-empty subset of 0..{self.num_timesteps - 1}")
        kept = self.alphas_cumprod[keep]
        betas = 1.0 - kept / np.append(1.0, kept[:-1])
        return GaussianDiffusion(
            betas,
            learn_sigma=self.learn_sigma,
            loss=self.loss,
            vb_weight=self.vb_weight,
            timestep_map=self.timestep_map[keep],
        )

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (DDPM eq. 4). x0, noise: [B, C, R, R, R]."""
        scale, sigma = extract(self.sqrt_alphas_cumprod, t, x0), extract(self.sqrt_one_minus_alphas_cumprod, t, x0)
        return scale * x0 + sigma * noise

    def q_posterior_mean_variance(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0) (DDPM eqs. 6-7), each [B, C, R, R, R]."""
        mean = extract(self.posterior_mean_coef1, t, x_t) * x0 + extract(self.posterior_mean_coef2, t, x_t) * x_t
        variance = extract(self.posterior_variance, t, x_t).expand_as(x_t)
        log_variance = extract(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
        return mean, variance, log_variance

    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_0 = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps (DDPM eq. 4 solved for x_0)."""
        recip = extract(self.sqrt_recip_alphas_cumprod, t, x_t)
        recipm1 = extract(self.sqrt_recipm1_alphas_cumprod, t, x_t)
        return recip * x_t - recipm1 * eps

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """The eps that maps x_t to x0 (the same relation solved for eps)."""
        recip = extract(self.sqrt_recip_alphas_cumprod, t, x_t)
        recipm1 = extract(self.sqrt_recipm1_alphas_cumprod, t, x_t)
        return (recip * x_t - x0) / recipm1

    def p_mean_variance(self, model_output: Tensor, x_t: Tensor, t: Tensor,
                        clip_x0: bool | float = True) -> dict[str, Tensor]:
        """p(x_{t-1} | x_t) from the raw network output.

        model_output: [B, C, R, R, R] (eps) or, with learn_sigma, [B, 2C, R, R, R] (eps, v with v in [-1, 1]).
        Returns mean, variance, log_variance, pred_x0 and eps, each [B, C, R, R, R]. clip_x0: True clips pred_x0
        to [-1, 1], a positive float b to [-b, b] (e.g. for latents), False not at all.
        """
        channels = x_t.shape[1]
        expected = 2 * channels if self.learn_sigma else channels
        if model_output.shape[1] != expected:
            raise ValueError(f"model output has {model_output.shape[1]} channels, expected {expected}")
        eps = model_output[:, :channels]
        if self.learn_sigma:
            # IDDPM eq. 15: Sigma = exp(v log beta_t + (1 - v) log beta~_t), with v mapped from [-1, 1] to [0, 1].
            frac = (model_output[:, channels:] + 1.0) / 2.0
            max_log = extract(self.log_betas, t, x_t)
            min_log = extract(self.posterior_log_variance_clipped, t, x_t)
            log_variance = frac * max_log + (1.0 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            # Fixed small variance sigma_t^2 = beta~_t (DDPM section 3.2).
            variance = extract(self.posterior_variance, t, x_t).expand_as(x_t)
            log_variance = extract(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
        pred_x0 = self.predict_x0_from_eps(x_t, t, eps)
        if clip_x0:
            pred_x0 = pred_x0.clamp(-float(clip_x0), float(clip_x0))
        mean, _, _ = self.q_posterior_mean_variance(pred_x0, x_t, t)
        return {"mean": mean, "variance": variance, "log_variance": log_variance, "pred_x0": pred_x0, "eps": eps}

    def vb_terms_bpd(self, model_output: Tensor, x0: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """The variational bound term L_t in bits/dim, [B] (DDPM eq. 5).

        KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 0, and at t = 0 the discretized Gaussian
        decoder NLL -log p(x_0 | x_1) (DDPM section 3.3: data in [-1, 1] with 255 bins).
        """
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x0, x_t, t)
        p = self.p_mean_variance(model_output, x_t, t, clip_x0=False)
        kl = mean_flat(normal_kl(true_mean, true_log_variance, p["mean"], p["log_variance"])) / math.log(2.0)
        nll = -mean_flat(discretized_gaussian_log_likelihood(x0, p["mean"], 0.5 * p["log_variance"])) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def inverse_snr(self, t: Tensor) -> Tensor:
        """1 / SNR(t) = (1 - abar_t) / abar_t, float32 [B] on t's device, for timesteps t [B]."""
        abar = torch.from_numpy(self.alphas_cumprod[t.detach().cpu().numpy()])
        return ((1 - abar) / abar).float().to(t.device)

    def training_losses(
        self,
        model: Callable[..., Tensor],
        x0: Tensor,
        t: Tensor,
        model_kwargs: dict[str, Any] | None = None,
        noise: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Per-sample losses, each [B]: loss, mse (L_simple) and vb (L_t in bits/dim).

        x0: [B, C, R, R, R] in [-1, 1]; t: LongTensor [B]. The model is called as
        model(x_t, map_timesteps(t), **model_kwargs). "hybrid" is IDDPM eq. 16, L_simple + lambda L_vlb, with
        L_vlb estimated from one uniformly drawn term as T * L_t, so at lambda = 0.001 and T = 1000 the loss
        is improved-diffusion's mse + vb.
        """
        if noise is None:
            noise = torch.randn_like(x0)
        x_t = self.q_sample(x0, t, noise)
        out = model(x_t, self.map_timesteps(t), **(model_kwargs or {}))
        channels = x0.shape[1]
        mse = mean_flat((noise - out[:, :channels]) ** 2)  # L_simple (DDPM eq. 14)
        # IDDPM section 3.1: L_vlb only trains the variance; the mean's gradient is stopped.
        frozen = torch.cat([out[:, :channels].detach(), out[:, channels:]], dim=1)
        vb = self.vb_terms_bpd(frozen, x0, x_t, t)
        loss = mse + self.vb_weight * self.num_timesteps * vb if self.loss == "hybrid" else mse
        return {"loss": loss, "mse": mse, "vb": vb}


def normal_kl(mean1: Tensor, log_var1: Tensor, mean2: Tensor, log_var2: Tensor) -> Tensor:
    """KL(N(mean1, exp(log_var1)) || N(mean2, exp(log_var2))) elementwise, in nats."""
    return 0.5 * (
        -1.0 + log_var2 - log_var1 + torch.exp(log_var1 - log_var2) + (mean1 - mean2) ** 2 * torch.exp(-log_var2)
    )


def discretized_gaussian_log_likelihood(x: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """log P(x) elementwise for data in [-1, 1] quantised to 256 levels (bins 2/255 wide), in nats.

    The mass of N(means, exp(log_scales)^2) over each bin; the edge bins extend to -inf and +inf (DDPM
    eq. 13). Exact normal CDF rather than improved-diffusion's tanh approximation.
    """
    inv_std = torch.exp(-log_scales)
    plus_in = inv_std * (x - means + 1.0 / 255.0)
    min_in = inv_std * (x - means - 1.0 / 255.0)
    log_cdf_plus = torch.special.log_ndtr(plus_in)
    log_one_minus_cdf_min = torch.special.log_ndtr(-min_in)
    log_cdf_delta = torch.log((torch.special.ndtr(plus_in) - torch.special.ndtr(min_in)).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta))
