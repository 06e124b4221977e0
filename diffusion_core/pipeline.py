"""VoxelGenerator: a trained checkpoint behind a small, validated sampling API (what the server calls).

    gen = VoxelGenerator.from_checkpoint("runs/NAME/ckpt_last.safetensors")
    voxels = gen.generate(labels=[0, 3], seeds=[7, 8], steps=25)        # [2, C, R, R, R] float32 in [0, 1]
    for step in gen.generate_progressive([0], [7]):                       # live previews and cancel
        preview = gen.to_voxels(step.pred_x0)

Latent models (a checkpoint with config["vae"], see latent.py) sample in latent space: the SampleStep
tensors are latents [N, C_lat, r, r, r], and ``gen.to_voxels`` decodes them through the embedded VAE.
``resolution`` and ``channels`` always describe the voxel grids that ``generate``/``to_voxels`` return.

Precision: on a CPU with native bf16 (AMX-BF16 or AVX512-BF16) the UNet and the VAE decoder run under bf16
autocast; the sampler's arithmetic stays float32. ``precision="fp32"`` (or the environment variable
``VOXD_PRECISION=fp32``) forces float32 everywhere; ``"bf16"`` forces autocast. In float32 on the CPU, the UNet's
small batches (one or two objects) run as oneDNN Graph traces (models/cpu_graph.py; ``VOXD_GRAPH=off`` disables).
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from blender_addon.shared.edits import Edit
from blender_addon.shared.settings import (DEFAULT_ETA, DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, Sampler,
                                          Spacing)

from .diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from .diffusion.samplers import Blend, Guide, SampleStep, sample_progressive
from .models.checkpoint import load_checkpoint
from .models.cpu_graph import SmallBatchGraphs, graphs_enabled
from .models.hue import calibrated_hues, own_hues, validate_hue, validate_hue_calibration
from .models.latent import LatentCodec
from .models.reencode import reencode, validate_reencode
from .models.unet import UNet3D, UNetConfig, run_cpu_batch_of_one_as_two

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "bf16", "fp32")


def to_voxels(x: Tensor) -> np.ndarray:
    """Model space [N, C, R, R, R] in [-1, 1] -> numpy float32 voxels in [0, 1] (clipped)."""
    return ((x.detach().float().cpu() + 1.0) / 2.0).clamp_(0.0, 1.0).numpy()


def cpu_has_native_bf16() -> bool:
    """True when the CPU has AMX-BF16 or AVX512-BF16 (cpuinfo via torch.cpu.get_capabilities), where oneDNN runs
    bf16 convolutions and matmuls natively; elsewhere bf16 would be emulated and slower than float32."""
    caps = torch.cpu.get_capabilities()
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def resolve_precision(precision: Precision | None, device: torch.device) -> bool:
    """Whether to run the networks under bf16 autocast. None reads VOXD_PRECISION (default "auto": bf16 on a CPU
    with native bf16, float32 on other CPUs and on other devices)."""
    precision = precision or os.environ.get("VOXD_PRECISION", "auto")  # type: ignore[assignment]
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return device.type == "cpu" and cpu_has_native_bf16()
    return precision == "bf16"


class _FastInference(nn.Module):
    """Runs the wrapped network the fast way: channels_last_3d input and weights (oneDNN's Conv3d path on CPU),
    under bf16 autocast when `bf16`, else with `graphs` its small batches as oneDNN Graph traces. The caller casts
    the output back to its own dtype."""

    def __init__(self, model: nn.Module, bf16: bool, graphs: bool = False) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last_3d)
        self.bf16 = bf16
        self.graphs = SmallBatchGraphs(self.model) if graphs and not bf16 else None

    def forward(self, x: Tensor, *args: Tensor | None, **kwargs: Tensor | None) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last_3d)
        if self.graphs is not None:
            return self.graphs(x, *args, **kwargs)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model(x, *args, **kwargs)


class _CodecPass(nn.Module):
    """One direction of a LatentCodec as a module (what _FastInference wraps): "decode", latents [B, C_lat, r, r, r]
    -> model space [B, C, R, R, R], or "encode", the reverse."""

    def __init__(self, codec: LatentCodec, direction: Literal["encode", "decode"]) -> None:
        super().__init__()
        self.codec = codec
        self.direction = direction

    def forward(self, x: Tensor) -> Tensor:
        return run_cpu_batch_of_one_as_two(getattr(self.codec, self.direction), x)


class VoxelGenerator:
    """A denoising network, its diffusion and class names (and for latent models the VAE `codec`),
    ready to sample (inference only). `clip_x0`: the bound of every x_0 prediction (DiffusionConfig.x0_clip);
    `guidance_interval`: the noise levels (sigma) where guidance runs (samplers.step_guidance; None: every
    step); `spacing`: how the steps spread over the timeline (samplers.sampling_timesteps; "trailing"); `hue_calibration`:
    a colour model's measured hue offsets (models.hue.calibrated_hues; None: the hues given as they are); `reencode`: a
    latent model's decode-encode round trips before the last decode (models.reencode; 0: none). All five may be
    set, e.g. to sweep them (`eval --clip-x0`, `--guidance-interval`, `--spacing`, `--reencode`) or to measure the raw
    response (scripts/calibrate_hue.py)."""

    def __init__(self, model: nn.Module, diffusion: GaussianDiffusion, class_names: Sequence[str],
                 unet_config: UNetConfig, model_name: str, device: torch.device,
                 codec: LatentCodec | None = None, precision: Precision | None = None,
                 clip_x0: float | None = None, hue_calibration: Sequence[float] | None = None,
                 reencode: int = 0) -> None:
        self.clip_x0 = DiffusionConfig(clip_x0=clip_x0).x0_clip(latent=codec is not None)
        self.hue_calibration = None if hue_calibration is None else validate_hue_calibration(hue_calibration)
        self.guidance_interval: tuple[float, float] | None = None
        self.spacing: Spacing = "trailing"
        self.bf16 = resolve_precision(precision, device)
        self.model = _FastInference(model.eval().requires_grad_(False), self.bf16,
                                    graphs=device.type == "cpu" and graphs_enabled())
        self.diffusion = diffusion
        self.class_names = list(class_names)
        self.sample_shape = (unet_config.in_channels,) + (unet_config.resolution,) * 3
        factor = 1 if codec is None else codec.config.downsample_factor
        self.resolution = unet_config.resolution * factor
        self.channels = unet_config.in_channels if codec is None else codec.config.in_channels
        self.model_name = model_name
        self.hue_conditional = unet_config.hue_conditional
        self.device = device
        self.codec = codec
        self.set_reencode(reencode)
        self._decoder, self._encoder = (None, None) if codec is None else (
            _FastInference(_CodecPass(codec.eval(), "decode"), self.bf16),
            _FastInference(_CodecPass(codec, "encode"), self.bf16))
        if unet_config.num_classes != len(self.class_names):
            raise ValueError(f"model has {unet_config.num_classes} classes but {len(self.class_names)} class names")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
                        precision: Precision | None = None) -> VoxelGenerator:
        """Load a training or exported checkpoint (EMA weights preferred), cast to float32; `precision`: see the
        module docstring (None: VOXD_PRECISION, default "auto")."""
        ckpt = load_checkpoint(path)
        unet_config = UNetConfig(**ckpt.config["unet"])
        device = torch.device(device)
        model = UNet3D(unet_config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt.inference_state().items()})
        model = model.to(device)
        diffusion_config = DiffusionConfig(**ckpt.config["diffusion"])
        diffusion = GaussianDiffusion.from_config(diffusion_config)
        name = ckpt.extra.get("model_name") or Path(path).stem
        codec = LatentCodec.from_checkpoint(ckpt).to(device) if "vae" in ckpt.config else None
        return cls(model, diffusion, ckpt.class_names, unet_config, name, device, codec, precision,
                   diffusion_config.clip_x0, ckpt.extra.get("hue_calibration"), ckpt.extra.get("reencode", 0))

    def set_reencode(self, rounds: int) -> None:
        """How many decode-encode round trips a latent model's samples take before the last decode
        (models.reencode; 0: none). ValueError for a bad count, or any round trip for a model without a VAE."""
        self.reencode = validate_reencode(rounds, latent=self.codec is not None)

    @property
    def max_steps(self) -> int:
        """The most denoising steps a sample may take: the model's number of timesteps."""
        return self.diffusion.num_timesteps

    def generate_progressive(self, labels: Sequence[int], seeds: Sequence[int], steps: int = DEFAULT_STEPS,
                             sampler: Sampler = DEFAULT_SAMPLER, eta: float = DEFAULT_ETA,
                             guidance: float = DEFAULT_GUIDANCE, edit: Edit | None = None,
                             hues: Sequence[float | None] | None = None) -> Iterator[SampleStep]:
        """Yield a SampleStep (x_t, pred_x0: [N, *sample_shape] in model space, latents for a latent
        model; ``to_voxels`` turns either into voxels) after each of `steps` steps. The default settings are
        the panel's (blender_addon.shared.settings).

        One label (index into class_names) and one seed per sample; a seed gives the same sample
        whether generated alone or in a batch. Stop iterating to cancel. Invalid arguments raise
        ValueError here, before the first step runs. `edit`: start from / keep a grid, or blend seeds (pass the
        same edit to ``to_voxels``, which pastes the kept voxels back exactly). `hues`: a hue-conditional model's
        main hue per sample (turns of the wheel; None, or a None entry: drawn from the seed, as the data draws it);
        a model without the colour condition takes none.
        """
        self._validate(labels, seeds, steps, sampler, eta, guidance)
        hue_tensor = self._hues(hues, seeds, edit)
        guide, blend = self._edit(edit, len(labels))
        return sample_progressive(
            self.model, self.diffusion, (len(labels), *self.sample_shape), steps=steps, sampler=sampler, eta=eta,
            labels=torch.tensor([int(v) for v in labels], dtype=torch.long), hues=hue_tensor, guidance=guidance,
            seeds=[int(s) for s in seeds], device=self.device, null_label=len(self.class_names),
            clip_x0=self.clip_x0, guide=guide, blend=blend, guidance_interval=self.guidance_interval,
            spacing=self.spacing)

    def _hues(self, hues: Sequence[float | None] | None, seeds: Sequence[int], edit: Edit | None = None) -> Tensor | None:
        """The colour condition [N] float32 for a hue-conditional model (requested hues, else each object's own:
        models.hue.own_hues, from its seeds or the grid an edit starts from or keeps; through the model's hue
        calibration), None for a model without it (which refuses requested hues)."""
        requested = [None] * len(seeds) if hues is None else [validate_hue(h) for h in hues]
        if len(requested) != len(seeds):
            raise ValueError(f"need one hue (or None) per sample: got {len(requested)} for {len(seeds)} samples")
        if not self.hue_conditional:
            if any(h is not None for h in requested):
                raise ValueError(f"model {self.model_name!r} takes no hue (it has no colour condition)")
            return None
        own = own_hues(seeds) if edit is None else own_hues(
            seeds, init=edit.init if edit.from_grid else None,
            blend_seeds=edit.blend_seeds, blend_weights=edit.blend_weights)
        wanted = [o if h is None else h for h, o in zip(requested, own)]
        return torch.tensor(calibrated_hues(wanted, self.hue_calibration), dtype=torch.float32)

    def encode(self, voxels: np.ndarray) -> Tensor:
        """float32 voxels [N, channels, R, R, R] in [0, 1] -> model space [N, *sample_shape] (latents through the
        VAE's posterior mean for a latent model)."""
        x = torch.from_numpy(np.ascontiguousarray(voxels, dtype=np.float32) * 2 - 1).to(self.device)
        if self.codec is None:
            return x
        with torch.inference_mode():
            return self.codec.encode(x)

    def _edit(self, edit: Edit | None, count: int) -> tuple[Guide | None, Blend | None]:
        """The sampler's view of an edit: x0 and the keep mask in model space (for a latent model a latent cell
        is regenerated when any voxel of its block is in the region)."""
        if edit is None:
            return None, None
        if edit.count is not None and edit.count != count:
            raise ValueError(f"the edit describes {edit.count} objects, the request {count}")
        blend = None if edit.blend_seeds is None else Blend(list(edit.blend_seeds), list(edit.blend_weights))
        if edit.init is None:
            return None, blend
        if edit.init.shape[1:] != (self.channels,) + (self.resolution,) * 3:
            raise ValueError(f"init must be [N, {self.channels}, {self.resolution}, {self.resolution}, "
                             f"{self.resolution}] for this model, got {edit.init.shape}")
        keep = None
        if edit.region is not None:
            region = torch.from_numpy(edit.region)[:, None].float()
            factor = self.resolution // self.sample_shape[-1]
            keep = torch.nn.functional.max_pool3d(region, factor) < 0.5 if factor > 1 else region < 0.5
        return Guide(self.encode(edit.init), edit.strength, keep), blend

    def generate(self, labels: Sequence[int], seeds: Sequence[int], steps: int = DEFAULT_STEPS,
                 sampler: Sampler = DEFAULT_SAMPLER, eta: float = DEFAULT_ETA,
                 guidance: float = DEFAULT_GUIDANCE, edit: Edit | None = None,
                 hues: Sequence[float | None] | None = None) -> np.ndarray:
        """Sample to the end: float32 voxels [N, C, R, R, R] in [0, 1] (defaults: the panel's, as
        generate_progressive)."""
        last = None
        for last in self.generate_progressive(labels, seeds, steps, sampler, eta, guidance, edit, hues):
            pass
        return self.to_voxels(last.x_t, edit)

    def to_voxels(self, x: Tensor, edit: Edit | None = None) -> np.ndarray:
        """Samples [N, *sample_shape] in model space -> float32 voxels [N, channels, R, R, R] in [0, 1].

        Latent models decode the whole batch through the VAE in one call (samples never interact: its GroupNorms
        are per sample, so a sample's voxels depend on its batch only through float rounding), after the model's
        `reencode` round trips; their alpha is the decoder's occupancy probability. With an `edit` that has a
        region, every voxel outside the region is the edit's init, exactly."""
        if self._decoder is not None:
            with torch.inference_mode():
                x = self._decoder(reencode(x.to(self.device), self._decoder, self._encoder, self.reencode))
        voxels = to_voxels(x)
        if edit is not None and edit.region is not None:  # outside the region: init, exactly
            voxels = np.where(edit.region[:, None], voxels, edit.init.astype(np.float32))
        return voxels

    def _validate(self, labels: Sequence[int], seeds: Sequence[int], steps: int, sampler: str, eta: float,
                  guidance: float) -> None:
        num_classes, max_steps = len(self.class_names), self.max_steps
        if len(labels) == 0:
            raise ValueError("need at least one label")
        if len(seeds) != len(labels):
            raise ValueError(f"need one seed per label: got {len(labels)} labels and {len(seeds)} seeds")
        for label in labels:
            if not _is_int(label) or not 0 <= label < num_classes:
                raise ValueError(f"label {label!r} is not a class index in 0..{num_classes - 1}")
        for seed in seeds:
            if not _is_int(seed) or not 0 <= seed < 2**63:
                raise ValueError(f"seed {seed!r} must be an integer in 0..2**63-1")
        if not _is_int(steps) or not 1 <= steps <= max_steps:
            raise ValueError(f"steps must be an integer in 1..{max_steps}, got {steps!r}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        if not math.isfinite(guidance):
            raise ValueError(f"guidance must be finite, got {guidance!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
