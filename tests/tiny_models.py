"""Tiny untrained checkpoints and UNets for tests: the real checkpoint format and UNet, no training needed."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from diffusion_core.models.checkpoint import save_checkpoint
from diffusion_core.diffusion.gaussian import DiffusionConfig
from diffusion_core.models.unet import UNet3D, UNetConfig

TINY_UNET = dict(base_channels=8, channel_mults=(1, 2), attention_resolutions=(4,), norm_groups=4, num_heads=2)
"""UNetConfig fields of a tiny UNet (add resolution, num_classes, ...)."""


def randomised(model: UNet3D) -> UNet3D:
    """Replace the zero-initialised layers so every path contributes to the output (seeded)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model


def save_tiny_checkpoint(path: Path, class_names: Sequence[str], *, resolution: int = 8, num_timesteps: int = 1000,
                         attention_resolutions: tuple[int, ...] = (), perturb: bool = False,
                         data: dict | None = None, hue_conditional: bool = False) -> Path:
    """Save an 8-channel-wide class-conditional UNet3D at `path` (with the colour condition if `hue_conditional`).

    With `perturb`, random noise is added to every weight (the zero-initialised output layers would
    otherwise make every sample trivial) and the weights are stored as EMA weights, as training does.
    """
    torch.manual_seed(0)
    unet = UNetConfig(resolution=resolution, base_channels=8, channel_mults=(1, 2),
                      attention_resolutions=attention_resolutions, num_classes=len(class_names), norm_groups=4,
                      hue_conditional=hue_conditional)
    model = UNet3D(unet)
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    config = {"unet": asdict(unet), "diffusion": asdict(DiffusionConfig(num_timesteps=num_timesteps)),
              "data": data or {}}
    state = model.state_dict()
    save_checkpoint(path, model_state={} if perturb else state, ema_state=state if perturb else None,
                    config=config, class_names=list(class_names), step=0)
    return path


def record_hues(generator, monkeypatch) -> list[torch.Tensor]:
    """Patch a VoxelGenerator's network to record the colour condition [N] of every call (it still runs)."""
    seen: list[torch.Tensor] = []
    real = generator.model.forward
    monkeypatch.setattr(generator.model, "forward", lambda x, t, **kw: (seen.append(kw["hue"]), real(x, t, **kw))[1])
    return seen
