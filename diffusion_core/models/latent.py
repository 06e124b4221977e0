"""Latent space for latent diffusion: a trained VoxelVAE plus per-channel latent normalisation.

A :class:`LatentCodec` maps model-space voxels x [B, C, R, R, R] in [-1, 1] to normalised latents
z = (mean(x) - shift) / scale [B, C_lat, r, r, r] and back (decode -> model space [-1, 1]). `shift` and
`scale` are the per-channel mean and std of the VAE's posterior means over its training set, so the
diffusion model sees roughly unit-variance latents. The codec's state_dict (VAE weights + shift + scale)
is what a latent diffusion checkpoint embeds under ``extra`` keys ``codec.<name>`` (CODEC_PREFIX);
:func:`swap_decoder` replaces the decoder there with one trained alone on the same latents.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import CODEC_PREFIX, Checkpoint, load_checkpoint, save_checkpoint
from ..data.dataset import GridDataset, VoxelDataset
from .vae import VAEConfig, VoxelVAE

class LatentCodec(nn.Module):
    """A VoxelVAE with latent normalisation buffers `shift` and `scale` [C_lat]."""

    def __init__(self, vae_config: VAEConfig) -> None:
        super().__init__()
        self.vae = VoxelVAE(vae_config)
        self.register_buffer("shift", torch.zeros(vae_config.latent_channels))
        self.register_buffer("scale", torch.ones(vae_config.latent_channels))

    @property
    def config(self) -> VAEConfig:
        return self.vae.cfg

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """x [B, C, R, R, R] in [-1, 1] -> normalised posterior means [B, C_lat, r, r, r]."""
        mean, _ = self.vae.encode(x)
        return (mean - _bcast(self.shift)) / _bcast(self.scale)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Normalised latents [B, C_lat, r, r, r] -> x [B, C, R, R, R] in model space [-1, 1]."""
        return self.vae.decode(z * _bcast(self.scale) + _bcast(self.shift))

    def checkpoint_extra(self) -> dict[str, Tensor]:
        """The codec's tensors as checkpoint `extra` entries (CODEC_PREFIX + state_dict key)."""
        return {CODEC_PREFIX + k: v for k, v in self.state_dict().items()}

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> LatentCodec:
        """From a VAE training checkpoint (model weights + extra latent_shift/latent_scale) or a latent
        diffusion checkpoint (config["vae"] + embedded codec.* extras); weights cast to float32.
        ValueError for a file with no VAE, or a VAE run that has not finished (no latent normalisation yet)."""
        if "vae" not in ckpt.config:
            raise ValueError("not a VAE run's checkpoint or a latent model: it has no VAE config")
        codec = cls(VAEConfig(**ckpt.config["vae"]))
        embedded = {k[len(CODEC_PREFIX):]: v for k, v in ckpt.extra.items() if k.startswith(CODEC_PREFIX)}
        if embedded:
            state = embedded
        elif "latent_shift" not in ckpt.extra:
            raise ValueError("this VAE run has not finished: the latent normalisation (latent_shift, latent_scale) is "
                             "written at its last step; finish it (train-vae --resume) or use a finished run")
        else:
            state = {**{"vae." + k: v for k, v in ckpt.model_state.items()},
                     "shift": ckpt.extra["latent_shift"], "scale": ckpt.extra["latent_scale"]}
        codec.load_state_dict({k: v.float() for k, v in state.items()})
        return codec.eval().requires_grad_(False)


def _bcast(v: Tensor) -> Tensor:
    return v.view(1, -1, 1, 1, 1)


@torch.no_grad()
def encode_means(vae: VoxelVAE, dataset: VoxelDataset, batch_size: int = 256) -> Tensor:
    """Posterior means of every item: [N, C_lat, r, r, r] float32 (VAE in eval mode, CPU)."""
    vae.eval()
    out = [vae.encode(torch.from_numpy(dataset.voxels[i:i + batch_size] * 2 - 1))[0]
           for i in range(0, len(dataset), batch_size)]
    return torch.cat(out)


def latent_stats(means: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel (shift, scale) = (mean, std) of posterior means [N, C_lat, r, r, r] -> two [C_lat]."""
    flat = means.transpose(0, 1).flatten(1).double()
    return flat.mean(1).float(), flat.std(1).clamp_min(1e-6).float()


class LatentDataset(GridDataset):
    """Normalised latents [N, C_lat, r, r, r] float32 with int64 labels [N]; items (z, label) like VoxelDataset."""

    array_name = "latents"

    @property
    def latents(self) -> np.ndarray:
        return self.grids


def encode_dataset(codec: LatentCodec, dataset: VoxelDataset, batch_size: int = 256) -> LatentDataset:
    """Encode a voxel data set to normalised latents with the codec's stored shift/scale."""
    z = [codec.encode(torch.from_numpy(dataset.voxels[i:i + batch_size] * 2 - 1)) for i in range(0, len(dataset), batch_size)]
    return LatentDataset(torch.cat(z).numpy(), dataset.labels, dataset.class_names, dataset.hues)


def swap_decoder(model_path: str | os.PathLike, vae_path: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Write `dst`: the latent model at `model_path` with the decoder of the VAE run checkpoint at `vae_path` (a
    decoder-only run from it: `train-vae` with init_from the model and freeze_encoder), cast to the dtype of the
    model's embedded VAE. The denoiser, the encoder and the latent normalisation stay the model's; refused unless
    the run's config and encoder are the model's own bit for bit (another encoder makes other latents)."""
    model, run = load_checkpoint(model_path), load_checkpoint(vae_path)
    prefix = CODEC_PREFIX + "vae."
    ours = {k[len(prefix):]: v for k, v in model.extra.items() if k.startswith(prefix)}
    if not ours:
        raise ValueError(f"{model_path} is not a latent model: it embeds no VAE")
    if VAEConfig(**run.config["vae"]) != VAEConfig(**model.config["vae"]):
        raise ValueError(f"{vae_path}: its VAE config is not the one {model_path} embeds")
    for key, value in ours.items():
        if key.startswith("encoder.") and not torch.equal(value.float(), run.model_state[key].float()):
            raise ValueError(f"{vae_path} has another encoder than {model_path} ({key}): its decoder decodes other "
                             "latents (train it with init_from the model and freeze_encoder)")
    decoder = {prefix + k: v.to(ours[k].dtype) for k, v in run.model_state.items() if k.startswith("decoder.")}
    save_checkpoint(dst, model_state=model.model_state, ema_state=model.ema_state, config=model.config,
                    class_names=model.class_names, step=model.step, extra={**model.extra, **decoder})
