"""Samplers: DDPM ancestral, DDIM and DPM-Solver++(2M) (ODE and SDE), as generators that yield every step (x_t
and the predicted x_0).

Every sample owns a CPU torch.Generator seeded from its own seed; noise is drawn on the CPU and then
moved to the device, so a seeded sample is the same on any device and whether generated alone or in a
batch. Equation numbers refer to Ho et al. 2020 ("DDPM"), Song et al. 2021 ("DDIM"), Ho & Salimans
2022 ("CFG") and Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
Models" ("DPM++").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from blender_addon.shared.settings import SAMPLERS, SPACINGS, Sampler, Spacing

from .gaussian import GaussianDiffusion, extract


@dataclass(frozen=True)
class Guide:
    """Sampling from known data instead of (only) noise: SDEdit (Meng et al. 2022) and RePaint-style
    inpainting (Lugmayr et al. 2022, the replacement step without resampling).

    x0: [B, C, R, R, R] model-space samples (latents for a latent model) to start from and/or keep.
    strength in [0, 1]: the fraction of the steps that runs. The sample starts as x0 noised to the level of
    the first step that runs, with the noise plain generation would start from; 1 is plain generation (x0 is
    not used to start), 0 runs no step and returns x0.
    keep: bool [B, 1 or C, R, R, R] or None. Where True, the sample is replaced after every step by x0 noised
    to that step's level (fresh noise), and by x0 itself after the last: only the rest is generated.
    """

    x0: Tensor
    strength: float = 1.0
    keep: Tensor | None = None


@dataclass(frozen=True)
class Blend:
    """In-between samples of two seeds: sample b draws all its noise (start and steps) as the spherical
    interpolation slerp(noise of seeds[b], noise of seeds_b[b], weights[b]); weight 0 is seeds[b]'s sample,
    1 is seeds_b[b]'s, exactly."""

    seeds_b: Sequence[int]
    weights: Sequence[float]


@dataclass(frozen=True)
class SampleStep:
    """One denoising step: x_t is the new sample after the step, pred_x0 the model's current guess of x_0.

    index: 0-based step number out of `total`; t: the (training-timeline) timestep that was denoised.
    x_t, pred_x0: [B, C, R, R, R] (inference tensors: read them, do not backpropagate through them).
    """

    index: int
    total: int
    t: int
    x_t: Tensor
    pred_x0: Tensor


START_MIN_ALPHA = 0.013
"""Sampling starts from pure noise at the noisiest timestep t whose signal scale sqrt(abar_t) is at least this
(990 of the cosine schedule's 1000), not at T - 1 (README "Where sampling starts"). At T - 1 (sqrt(abar) = 5e-5)
an eps model's x_0 prediction is its eps error times 20 000: clipped, +-clip garbage in 99% of the values, which
the next step of 15 carries into the sample at a tenth of its size (DDPM and DPM-Solver alike). From t = 990 the
error is amplified 70 times instead, while pure noise still matches q(x_t) up to 0.014 x_0. Chosen on the
tuning seeds among 999, 995, 990, 985, 980 and 966 (later starts shrink and darken objects)."""


def step_guidance(abar: float, scale: float, interval: tuple[float, float] | None) -> float:
    """The guidance scale of a step at cumulative alpha `abar`: `scale` where its noise level sigma =
    sqrt((1 - abar) / abar) lies in `interval` = (low, high] (None: every step), else min(scale, 1): 1.5 becomes
    one conditional pass, 0 stays unconditional. Guidance in a limited interval: Kynkaanniemi et al. 2024,
    "Applying guidance in a limited interval improves sample and distribution quality in diffusion models" (their
    ImageNet-512 interval, (0.28, 5.42], leaves the two noisiest and the last two of our 15 steps from t = 990
    unguided). Measured on both bundled models it is no clear gain, so every step is guided by default (README
    "Guidance only in the middle of the timeline (tried)"); `eval --guidance-interval` measures it."""
    if interval is None:
        return scale
    sigma = float(np.sqrt((1.0 - abar) / abar))
    return scale if interval[0] < sigma <= interval[1] else min(scale, 1.0)


def spaced_timesteps(num_timesteps: int, steps: int, first: int | None = None) -> list[int]:
    """`steps` evenly spaced timesteps of 0..first (default num_timesteps - 1), ascending, always including first.

    "Trailing" spacing (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed",
    Table 2) from `first`: e.g. T=1000, steps=50 -> 19, 39, ..., 999; first=990, steps=15 -> 65, 131, ..., 990.
    """
    first = num_timesteps - 1 if first is None else first
    if not 0 <= first < num_timesteps:
        raise ValueError(f"the first timestep must be in 0..{num_timesteps - 1}, got {first}")
    if not 1 <= steps <= first + 1:
        raise ValueError(f"steps must be in 1..{first + 1}, got {steps}")
    ratio = (first + 1) / steps
    return sorted(int(v) - 1 for v in np.round(first + 1 - np.arange(steps) * ratio))


def logsnr_timesteps(alphas_cumprod: np.ndarray, steps: int, first: int) -> list[int]:
    """`steps` distinct timesteps of 0..first, ascending, with the end points of `spaced_timesteps` (first and its
    least), evenly spaced between them in log-SNR lambda = log(sqrt(abar) / sqrt(1 - abar)) (DPM-Solver, Lu et al.
    2022, section 3.4, "logSNR"), each the nearest integer timestep, moved to the nearest free one where the
    integer timeline is too coarse for that (many steps). alphas_cumprod: [T] float64 of the full timeline.

    On the cosine schedule this puts many steps at high noise, where an eps model's x_0 is least certain:
    25 steps from 990 -> 39, 53, 73, ..., 971, 978, 983, 987, 990 (trailing: 39, 78, ..., 911, 950, 990).
    """
    trailing = spaced_timesteps(len(alphas_cumprod), steps, first)
    lam = 0.5 * (np.log(alphas_cumprod) - np.log1p(-alphas_cumprod))  # decreasing in t
    grid = np.arange(len(lam), dtype=np.float64)
    targets = np.linspace(lam[trailing[0]], lam[first], steps)  # least noisy first
    picked = [int(t) for t in np.round(np.interp(targets, lam[::-1], grid[::-1]))]
    for k in reversed(range(steps - 1)):  # distinct, below first: each at least one under the next
        picked[k] = min(picked[k], picked[k + 1] - 1)
    for k in range(steps):  # and at least 0: each at least one over the previous
        picked[k] = max(picked[k], picked[k - 1] + 1 if k else 0)
    return picked


def sampling_timesteps(diffusion: GaussianDiffusion, steps: int, first: int, spacing: Spacing) -> list[int]:
    """The training-timeline timesteps a sampler visits in `steps` steps from `first`, ascending: `spacing`
    "trailing" (spaced_timesteps) or "logsnr" (logsnr_timesteps)."""
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; expected one of {SPACINGS}")
    if spacing == "logsnr":
        return logsnr_timesteps(diffusion.alphas_cumprod, steps, first)
    return spaced_timesteps(diffusion.num_timesteps, steps, first)


def sampling_start(diffusion: GaussianDiffusion, steps: int) -> int:
    """The timestep sampling in `steps` steps starts from: the noisiest with sqrt(abar) >= START_MIN_ALPHA, or
    later where the steps need more timesteps than that leaves (1000 steps start at 999)."""
    confident = np.nonzero(diffusion.sqrt_alphas_cumprod >= START_MIN_ALPHA)[0]
    first = int(confident[-1]) if confident.size else 0
    return min(diffusion.num_timesteps - 1, max(first, steps - 1))


def sample_progressive(
    model: Callable[..., Tensor],
    diffusion: GaussianDiffusion,
    shape: tuple[int, ...],
    *,
    steps: int,
    sampler: Sampler,
    eta: float,
    labels: Tensor | None = None,
    hues: Tensor | None = None,
    guidance: float,
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    null_label: int | None = None,
    clip_x0: bool | float = True,
    guide: Guide | None = None,
    blend: Blend | None = None,
    first: int | None = None,
    guidance_interval: tuple[float, float] | None = None,
    spacing: Spacing = "trailing",
) -> Iterator[SampleStep]:
    """Denoise pure noise of `shape` [B, C, R, R, R] in `steps` steps (from `sampling_start`), yielding a
    SampleStep after each.

    The model is called as model(x_t, t_train[B]) or model(x_t, t_train, y=labels[B]) and returns
    [B, C or 2C, R, R, R]. With labels and guidance != 1, classifier-free guidance runs the
    conditional and unconditional (y = null_label) passes in one doubled batch. One seed per sample. `hues` [B]
    (a hue-conditional model's colour condition, models.hue) go to the conditional pass as model(..., hue=hues),
    and the unconditional pass has none (NaN): guidance is on the class and the colour together.
    Callers may stop iterating at any step (cancel). `clip_x0` clips each x_0 prediction: True to [-1, 1]
    (voxels in model space), a float b to [-b, b] (latent models), False not at all. "dpmpp_2m" (deterministic)
    and "dpmpp_2m_sde" (fresh noise every step, as DDPM) ignore `eta`; like DDIM they use only the eps half of
    a learned-variance output. `guide`: start from and/or keep known data; `blend`: in-between noise of two seeds.
    `first`: the noisiest timestep, where the pure noise starts (None: `sampling_start`). `guidance_interval`:
    guide only the steps with sigma in (low, high] (see `step_guidance`; None: every step). `spacing`: how the
    steps spread over the timeline (`sampling_timesteps`).
    """
    if len(seeds) != shape[0]:
        raise ValueError(f"need one seed per sample: {shape[0]} samples, {len(seeds)} seeds")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {SAMPLERS}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if labels is not None and guidance != 1.0 and null_label is None:
        raise ValueError("classifier-free guidance needs null_label")
    if guide is not None and not 0.0 <= guide.strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {guide.strength}")
    if blend is not None and not len(blend.seeds_b) == len(blend.weights) == shape[0]:
        raise ValueError(f"a blend needs a second seed and a weight per sample ({shape[0]})")
    device = torch.device(device)
    labels = None if labels is None else labels.to(device)
    hues = None if hues is None else hues.to(device)
    if not 1 <= steps <= diffusion.num_timesteps:
        raise ValueError(f"steps must be in 1..{diffusion.num_timesteps}, got {steps}")
    first = sampling_start(diffusion, steps) if first is None else first
    spaced = diffusion.respace(sampling_timesteps(diffusion, steps, first, spacing))
    draw = _noise_source(seeds, blend, shape[1:], device)
    stochastic = sampler in ("ddpm", "dpmpp_2m_sde") or (sampler == "ddim" and eta > 0.0)
    total = spaced.num_timesteps if guide is None else round(guide.strength * spaced.num_timesteps)

    # inference_mode is entered per step, never held across a yield: the caller's code runs between steps.
    with torch.inference_mode():
        x = draw()
        if guide is not None and total == 0:
            yield SampleStep(index=0, total=1, t=0, x_t=guide.x0, pred_x0=guide.x0)
            return
        if total < spaced.num_timesteps:  # SDEdit: x0 noised to the level of the first step that runs
            x = _noised(spaced.alphas_cumprod[total - 1], guide.x0.to(device), x)
    # The respaced timeline holds exactly the sampled timesteps, so each step goes from index i to i - 1:
    # the (t, t_prev) pairs are consecutive entries of ONE list, spaced.timestep_map (t_prev = none at i = 0).
    pred_x0: Tensor | None = None  # the previous step's, for the multistep solver
    for index, i in enumerate(reversed(range(total))):
        with torch.inference_mode():
            t = torch.full((shape[0],), i, dtype=torch.long, device=device)
            scale = step_guidance(float(spaced.alphas_cumprod[i]), guidance, guidance_interval)
            out = _model_output(model, spaced, x, t, labels, scale, null_label, hues)
            noise = draw() if stochastic and i > 0 else None
            if sampler == "ddpm":
                x, pred_x0 = _ddpm_step(spaced, out, x, t, noise, clip_x0)
            elif sampler == "ddim":
                x, pred_x0 = _ddim_step(spaced, out, x, t, eta, noise, clip_x0)
            else:
                x, pred_x0 = _dpmpp_2m_step(spaced, out, x, t, pred_x0, noise if sampler == "dpmpp_2m_sde" else None,
                                            clip_x0)
            if guide is not None and guide.keep is not None:  # the known part, at the level x is now at
                x0 = guide.x0.to(device)
                known = x0 if i == 0 else _noised(spaced.alphas_cumprod_prev[i], x0, draw())
                x = torch.where(guide.keep.to(device), known, x)
        yield SampleStep(index=index, total=total, t=int(spaced.timestep_map[i]), x_t=x, pred_x0=pred_x0)


def sample(model: Callable[..., Tensor], diffusion: GaussianDiffusion, shape: tuple[int, ...], **kwargs: Any) -> Tensor:
    """Run sample_progressive (same arguments) to the end; returns the final sample [B, C, R, R, R]."""
    x: Tensor | None = None
    for step in sample_progressive(model, diffusion, shape, **kwargs):
        x = step.x_t
    assert x is not None  # at least one step always runs
    return x


def _per_sample_noise(generators: Sequence[torch.Generator], shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Standard normal noise [B, *shape], row b drawn on the CPU from generators[b], then moved to device."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)


def _noise_source(seeds: Sequence[int], blend: Blend | None, shape: tuple[int, ...],
                  device: torch.device) -> Callable[[], Tensor]:
    """A function drawing the next noise [B, *shape] of every sample: from its own seed's generator, or for a
    blend the slerp of two seeds' draws (weights 0 and 1 give either seed's draw exactly)."""
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    if blend is None:
        return lambda: _per_sample_noise(generators, shape, device)
    others = [torch.Generator().manual_seed(int(seed)) for seed in blend.seeds_b]
    weights = [float(w) for w in blend.weights]
    return lambda: torch.stack([slerp(a, b, w) for a, b, w in zip(_per_sample_noise(generators, shape, device),
                                                                   _per_sample_noise(others, shape, device), weights)])


def slerp(a: Tensor, b: Tensor, weight: float) -> Tensor:
    """Spherical interpolation between two noise tensors of one shape (a at 0, b at 1, exactly)."""
    if weight == 0.0 or weight == 1.0:
        return a if weight == 0.0 else b
    cos = torch.dot(a.flatten().double(), b.flatten().double()) / (a.double().norm() * b.double().norm())
    theta = float(torch.arccos(cos.clamp(-1.0, 1.0)))
    if theta < 1e-6:
        return a + (b - a) * weight
    return (np.sin((1.0 - weight) * theta) * a + np.sin(weight * theta) * b) / np.sin(theta)


def _noised(abar: float, x0: Tensor, noise: Tensor) -> Tensor:
    """q(x_t | x_0) = sqrt(abar) x0 + sqrt(1 - abar) noise (DDPM eq. 4) at a level with cumulative alpha abar."""
    return float(np.sqrt(abar)) * x0 + float(np.sqrt(1.0 - abar)) * noise


def _model_output(
    model: Callable[..., Tensor],
    diffusion: GaussianDiffusion,
    x: Tensor,
    t: Tensor,
    labels: Tensor | None,
    guidance: float,
    null_label: int | None,
    hues: Tensor | None = None,
) -> Tensor:
    """The single place the network is called: [B, C or 2C, R, R, R] in x's dtype, guidance applied."""
    timesteps = diffusion.map_timesteps(t)
    colour = {} if hues is None else {"hue": hues}
    if labels is None:
        return model(x, timesteps, **colour).to(x.dtype)
    if guidance == 1.0:
        return model(x, timesteps, y=labels, **colour).to(x.dtype)
    null = torch.full_like(labels, null_label)
    colour = {k: torch.cat([v, torch.full_like(v, torch.nan)]) for k, v in colour.items()}
    both = model(torch.cat([x, x]), torch.cat([timesteps, timesteps]), y=torch.cat([labels, null]),
                 **colour).to(x.dtype)
    cond, uncond = both.chunk(2)
    channels = x.shape[1]
    # CFG eq. 6 with s = 1 + w: eps~ = eps(x, null) + s (eps(x, c) - eps(x, null)), on every eps channel;
    # the variance channels come from the conditional pass.
    eps = uncond[:, :channels] + guidance * (cond[:, :channels] - uncond[:, :channels])
    return torch.cat([eps, cond[:, channels:]], dim=1)


def _ddpm_step(
    diffusion: GaussianDiffusion, out: Tensor, x: Tensor, t: Tensor, noise: Tensor | None, clip_x0: bool | float
) -> tuple[Tensor, Tensor]:
    """Ancestral step x_t -> x_{t-1} ~ p(x_{t-1} | x_t) (DDPM Algorithm 2, line 4; no noise at the last step)."""
    p = diffusion.p_mean_variance(out, x, t, clip_x0=clip_x0)
    if noise is None:
        return p["mean"], p["pred_x0"]
    return p["mean"] + torch.exp(0.5 * p["log_variance"]) * noise, p["pred_x0"]


def _ddim_step(
    diffusion: GaussianDiffusion, out: Tensor, x: Tensor, t: Tensor, eta: float, noise: Tensor | None,
    clip_x0: bool | float,
) -> tuple[Tensor, Tensor]:
    """DDIM step x_t -> x_{t-1} (DDIM eq. 12); eps is re-derived from the (clipped) x_0 prediction."""
    p = diffusion.p_mean_variance(out, x, t, clip_x0=clip_x0)
    eps = diffusion.predict_eps_from_x0(x, t, p["pred_x0"])
    alpha_prev = diffusion.alphas_cumprod_prev
    # DDIM eq. 16: sigma_t(eta)^2 = eta^2 (1 - abar_prev) / (1 - abar_t) (1 - abar_t / abar_prev) = eta^2 beta~_t,
    # computed in float64 over the (respaced) timeline, then gathered.
    sigma = eta * np.sqrt(diffusion.posterior_variance)
    direction = np.sqrt(np.maximum(1.0 - alpha_prev - sigma**2, 0.0))
    # DDIM eq. 12: x_{t-1} = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev - sigma_t^2) eps + sigma_t z
    x_prev = extract(np.sqrt(alpha_prev), t, x) * p["pred_x0"] + extract(direction, t, x) * eps
    if noise is not None:
        x_prev = x_prev + extract(sigma, t, x) * noise
    return x_prev, p["pred_x0"]


def _dpmpp_2m_step(
    diffusion: GaussianDiffusion, out: Tensor, x: Tensor, t: Tensor, last_x0: Tensor | None, noise: Tensor | None,
    clip_x0: bool | float,
) -> tuple[Tensor, Tensor]:
    """DPM-Solver++(2M) step x_s -> x_t from timeline index i = t[0] to i - 1 ("midpoint" form; t [B] holds one
    index, as every sampler step here): the ODE solver (DPM++ Algorithm 2) or, given noise, its SDE variant
    (DPM++ section 5, diffusers' "sde-dpmsolver++"). x, last_x0, noise: [B, C, R, R, R].

    x_0 is predicted from the guided eps and clipped as in DDIM; last_x0 is the previous step's (at index
    i + 1), None at the first step. With lambda = log(alpha / sigma), alpha^2 = abar, sigma^2 = 1 - abar and
    e = exp(-h), h = lambda_t - lambda_s:
        ODE: x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e) D
        SDE: x_t = (sigma_t / sigma_s) e x_s + alpha_t (1 - e^2) D + sigma_t sqrt(1 - e^2) z
    where D = x_0 at the first step and at the last (sigma_t = 0, e = 0, so x_t = x_0: first order, as diffusers'
    lower_order_final), and D = x_0 + (x_0 - last_x0) / (2 r) with r = h_last / h otherwise (the 2M correction).
    """
    pred_x0 = diffusion.p_mean_variance(out, x, t, clip_x0=clip_x0)["pred_x0"]
    i = int(t[0])
    abar, abar_prev = diffusion.alphas_cumprod, diffusion.alphas_cumprod_prev  # float64: abar_s = abar[i]
    alpha_s, sigma_s = np.sqrt(abar[i]), np.sqrt(1.0 - abar[i])
    alpha_t, sigma_t = np.sqrt(abar_prev[i]), np.sqrt(1.0 - abar_prev[i])
    e = alpha_s * sigma_t / (sigma_s * alpha_t)  # exp(-h) = exp(lambda_s - lambda_t): 0 at sigma_t = 0
    d = pred_x0
    if last_x0 is not None and sigma_t > 0.0:
        lam = 0.5 * (np.log(abar) - np.log1p(-abar))  # lambda over the timeline [N]; lambda_t = lam[i - 1] here
        r = (lam[i] - lam[i + 1]) / (lam[i - 1] - lam[i])
        d = pred_x0 + (pred_x0 - last_x0) * float(0.5 / r)
    if noise is None:
        return float(sigma_t / sigma_s) * x + float(alpha_t * (1.0 - e)) * d, pred_x0
    x_t = float(sigma_t / sigma_s * e) * x + float(alpha_t * (1.0 - e * e)) * d
    return x_t + float(sigma_t * np.sqrt(1.0 - e * e)) * noise, pred_x0
