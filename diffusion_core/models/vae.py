"""A small convolutional VAE that compresses voxel grids for latent diffusion.

    16^3 x 4 (RGBA, model space [-1, 1])  --encode-->  4^3 x latent_channels  --decode-->  16^3 x 4

With ``patch_size`` p > 1 the grid is first folded into p^3-voxel patches (space-to-depth: [C, R, R, R] ->
[C p^3, R/p, R/p, R/p]) and the decoder's head unfolds them again, so every convolution runs at R/p: a 32^3
grid costs what a 16^3 one does. The encoder is conv_in, then per level ``num_res_blocks`` residual blocks
(GroupNorm -> SiLU -> Conv3d, twice, plus a skip) and a stride-2 Conv3d between levels (all three axes halve), then a head predicting
the diagonal Gaussian posterior (mean, logvar). The decoder mirrors it with nearest-neighbour upsampling.
It predicts, per voxel, an occupancy logit and RGB logits: ``decode`` turns them into model space with
alpha = 2 * sigmoid(logit) - 1 (so ``(x + 1) / 2`` is the occupancy probability) and
RGB = 2 * sigmoid(rgb) * p_alpha - 1 (RGB is 0 where empty, as in the data).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of :class:`VoxelVAE`; ``asdict(cfg)`` round-trips through checkpoints."""

    in_channels: int = 4  # 4 = RGBA, 1 = alpha only
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)  # len - 1 stride-2 downsamplings: (1, 2, 2) -> factor 4
    num_res_blocks: int = 1
    latent_channels: int = 8
    norm_groups: int = 8
    patch_size: int = 1  # space-to-depth fold before the first convolution (1: none)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        if self.in_channels not in (1, 4):
            raise ValueError(f"in_channels must be 1 or 4, got {self.in_channels}")
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {self.patch_size}")
        for mult in self.channel_mults:
            if (self.base_channels * mult) % self.norm_groups:
                raise ValueError(f"channel width {self.base_channels * mult} must be divisible by norm_groups")

    @property
    def downsample_factor(self) -> int:
        return self.patch_size * 2 ** (len(self.channel_mults) - 1)

    def latent_resolution(self, resolution: int) -> int:
        """Latent grid size for a voxel grid of `resolution` (must divide evenly)."""
        if resolution % self.downsample_factor:
            raise ValueError(f"resolution {resolution} must be divisible by {self.downsample_factor}")
        return resolution // self.downsample_factor


class _ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, in_ch), nn.SiLU(), nn.Conv3d(in_ch, out_ch, 3, padding=1),
            nn.GroupNorm(groups, out_ch), nn.SiLU(), nn.Conv3d(out_ch, out_ch, 3, padding=1),
        )
        self.skip = nn.Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class _Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def space_to_depth(x: Tensor, p: int) -> Tensor:
    """[B, C, R, R, R] -> [B, C p^3, R/p, R/p, R/p]: each p^3 block of voxels becomes one position's channels
    (channel c p^3 + (i p + j) p + k holds voxel (p d + i, p h + j, p w + k) of channel c)."""
    b, c, d, h, w = x.shape
    x = x.reshape(b, c, d // p, p, h // p, p, w // p, p).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * p**3, d // p, h // p, w // p)


def depth_to_space(x: Tensor, p: int) -> Tensor:
    """The inverse of :func:`space_to_depth`: [B, C p^3, r, r, r] -> [B, C, r p, r p, r p]."""
    b, cp, d, h, w = x.shape
    x = x.reshape(b, cp // p**3, p, p, p, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, cp // p**3, d * p, h * p, w * p)


def _head(channels: int, out_ch: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv3d(channels, out_ch, 3, padding=1))


class VoxelVAE(nn.Module):
    """Encoder/decoder pair; see the module docstring for the layout."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.base_channels * m for m in cfg.channel_mults]
        g = cfg.norm_groups

        folded = cfg.in_channels * cfg.patch_size**3
        enc: list[nn.Module] = [nn.Conv3d(folded, widths[0], 3, padding=1)]
        ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(cfg.num_res_blocks):
                enc.append(_ResBlock(ch, width, g))
                ch = width
            if level < len(widths) - 1:
                enc.append(nn.Conv3d(ch, ch, 3, stride=2, padding=1))
        enc.append(_head(ch, 2 * cfg.latent_channels, g))
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv3d(cfg.latent_channels, widths[-1], 3, padding=1)]
        ch = widths[-1]
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(cfg.num_res_blocks):
                dec.append(_ResBlock(ch, width, g))
                ch = width
            if level > 0:
                dec.append(_Upsample(ch))
        dec.append(_head(ch, folded, g))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, C, R, R, R] in [-1, 1] -> (mean, logvar), each [B, latent_channels, r, r, r] (r = R / factor)."""
        mean, logvar = self.encoder(space_to_depth(x, self.cfg.patch_size)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_logits(self, z: Tensor) -> Tensor:
        """z [B, latent_channels, r, r, r] -> raw logits [B, C, R, R, R]: RGB logits first, occupancy logit last."""
        return depth_to_space(self.decoder(z), self.cfg.patch_size)

    def decode(self, z: Tensor) -> Tensor:
        """z [B, latent_channels, r, r, r] -> x [B, C, R, R, R] in model space [-1, 1] (see module docstring)."""
        return logits_to_model_space(self.decode_logits(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None,
                latent_noise_std: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Reparameterised pass: x [B, C, R, R, R] -> (logits [B, C, R, R, R], mean, logvar). `latent_noise_std`
        [latent_channels]: Gaussian noise of that std per channel added to the sampled latent before decoding (a
        decoder trained to decode latents a little off the encoder's, as a sampler's are)."""
        mean, logvar = self.encode(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        if latent_noise_std is not None:
            extra = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = z + latent_noise_std.view(1, -1, 1, 1, 1).to(z) * extra
        return self.decode_logits(z), mean, logvar


def logits_to_model_space(logits: Tensor) -> Tensor:
    """Decoder logits [B, C, R, R, R] (RGB logits, occupancy logit last) -> model space [-1, 1], in float32
    (logits from a bf16 autocast decoder would otherwise give alpha in steps of 2^-8 near the 0.9 threshold)."""
    logits = logits.float()
    alpha = torch.sigmoid(logits[:, -1:])
    rgb = torch.sigmoid(logits[:, :-1]) * alpha
    return torch.cat([rgb, alpha], dim=1) * 2.0 - 1.0


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, averaged over latent elements: [B]."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).mean(1)
