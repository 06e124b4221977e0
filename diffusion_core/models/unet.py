"""A 3D UNet for voxel diffusion (improved-diffusion style, all three axes down/up-sampled).

Layout for ``channel_mults=(1, 2, 2)`` at 16^3: 16^3 -> 8^3 -> 4^3 and back, ``num_res_blocks`` residual
blocks per level (one more on the way up, taking the skip connection), self-attention at the spatial
sizes in ``attention_resolutions``, and a residual + attention + residual bottleneck. Every residual block
receives the timestep embedding (sinusoidal -> MLP) plus the class embedding (``num_classes + 1`` rows;
the last row is the null label used for classifier-free guidance) and, with ``hue_conditional``, the
embedding of the object's main hue (``models.hue``: NaN or None for none).

Layers whose output is added to a residual stream (second conv of each residual block, attention output
projection) and the final output conv are zero-initialised, so a fresh network predicts exactly zero.

CPU note: PyTorch runs ``Conv3d`` at batch 1 on small grids with its slow reference kernel (``slow_conv3d``,
whatever the memory format); oneDNN is used at batch >= 2. So on CPU a batch of one is padded to two with a
copy (samples never interact: GroupNorm and attention are per sample), which is ~3x faster at 16^3; see
``bench/bench_unet_cpu.py``. ``channels_last_3d`` (model and input) gives the same results ~10% faster.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .hue import hue_features


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of :class:`UNet3D`; ``asdict(cfg)`` round-trips through checkpoints."""

    resolution: int = 16
    in_channels: int = 4
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (4,)
    num_heads: int = 1
    dropout: float = 0.0
    num_classes: int | None = None
    learn_sigma: bool = True
    norm_groups: int = 8
    hue_conditional: bool = False

    def __post_init__(self) -> None:
        # JSON round-trips turn tuples into lists; normalise so the frozen config stays hashable.
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        factor = 2 ** (len(self.channel_mults) - 1)
        if self.resolution % factor:
            raise ValueError(f"resolution {self.resolution} must be divisible by {factor}")
        for mult in self.channel_mults:
            width = self.base_channels * mult
            if width % self.norm_groups or width % self.num_heads:
                raise ValueError(f"channel width {width} must be divisible by norm_groups and num_heads")

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)


DEFAULT_UNET_16 = UNetConfig(
    resolution=16, base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=2, attention_resolutions=(8, 4),
    num_heads=2,
)
"""Default 16^3 model (set ``num_classes`` for the data set): ~35 ms per batch-2 forward (one guided step) on 2
CPU threads with channels_last_3d, so a 25-step guided sample takes about 1 s (bench/bench_unet_cpu.py)."""


def run_cpu_batch_of_one_as_two(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor | None) -> torch.Tensor:
    """fn(*inputs), with a CPU batch of one run as a batch of two copies (see the module docstring): fn must treat
    samples independently. inputs: tensors [B, ...] (or None), the first one [B, C, R, R, R]; returns fn's [B, ...]."""
    if inputs[0].shape[0] == 1 and inputs[0].device.type == "cpu":
        return fn(*(torch.cat([v, v]) if v is not None else None for v in inputs))[:1]
    return fn(*inputs)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: t [B] -> [B, dim] float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv x2 with the embedding added after the first conv; 1x1x1 skip if widths differ."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, in_ch), nn.SiLU(), nn.Conv3d(in_ch, out_ch, 3, padding=1))
        self.emb_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_ch))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(groups, out_ch), nn.SiLU(), nn.Dropout(dropout), _zero(nn.Conv3d(out_ch, out_ch, 3, padding=1))
        )
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv3d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_proj(emb)[:, :, None, None, None]
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all voxels of a (small) grid: x [B,C,D,H,W] -> same shape."""

    def __init__(self, channels: int, num_heads: int, groups: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv3d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv3d(channels, channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, *spatial = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, -1)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each [B, heads, L, head_dim]
        h = F.scaled_dot_product_attention(q, k, v)
        h = h.transpose(-1, -2).reshape(b, c, *spatial)
        return x + self.proj(h)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Stage(nn.Module):
    """Layers sharing the ``(x, emb)`` call signature: one rung of the UNet ladder (res block [+ attn] [+ resample])."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, emb)
        return x


class HueEmbedding(nn.Module):
    """hue [B] (NaN: none) -> [B, dim], an MLP of ``hue_features``. Its last layer starts at zero, so a network
    extended with it (fine-tuned from an unconditional-in-hue checkpoint) starts out exactly as before."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, dim), nn.SiLU(), _zero(nn.Linear(dim, dim)))

    def forward(self, hue: torch.Tensor) -> torch.Tensor:
        return self.mlp(hue_features(hue))


class UNet3D(nn.Module):
    """Noise-prediction UNet. forward(x [B,C,R,R,R], t [B] long|float, y [B] long | None, hue [B] float | None)
    -> [B, C_out, R,R,R].

    ``C_out = 2 * C`` when ``learn_sigma`` (epsilon channels first, then the variance interpolation values).
    ``y`` is required when ``num_classes`` is set; pass ``num_classes`` (the null label) for unconditional.
    ``hue`` (turns of the wheel, NaN: none; None: none for all) only when ``hue_conditional``.
    """

    pad_cpu_batch_of_one = True
    """Run a CPU batch of one as a batch of two (see the module docstring); the benchmark turns it off."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        base, groups = cfg.base_channels, cfg.norm_groups
        emb_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(cfg.num_classes + 1, emb_dim) if cfg.num_classes is not None else None
        self.hue_emb = HueEmbedding(emb_dim) if cfg.hue_conditional else None

        def res_stage(in_ch: int, out_ch: int, res: int) -> Stage:
            block = ResBlock(in_ch, out_ch, emb_dim, groups, cfg.dropout)
            if res in cfg.attention_resolutions:
                return Stage(block, AttentionBlock(out_ch, cfg.num_heads, groups))
            return Stage(block)

        self.input_conv = nn.Conv3d(cfg.in_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        skip_widths, ch, res = [base], base, cfg.resolution
        for level, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.num_res_blocks):
                self.down.append(res_stage(ch, base * mult, res))
                ch = base * mult
                skip_widths.append(ch)
            if level != len(cfg.channel_mults) - 1:
                self.down.append(Stage(Downsample(ch)))
                skip_widths.append(ch)
                res //= 2

        self.middle = Stage(
            ResBlock(ch, ch, emb_dim, groups, cfg.dropout),
            AttentionBlock(ch, cfg.num_heads, groups),
            ResBlock(ch, ch, emb_dim, groups, cfg.dropout),
        )

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mults))):
            for i in range(cfg.num_res_blocks + 1):
                stage = res_stage(ch + skip_widths.pop(), base * mult, res)
                ch = base * mult
                if level != 0 and i == cfg.num_res_blocks:
                    stage.layers.append(Upsample(ch))
                    res *= 2
                self.up.append(stage)

        self.out = nn.Sequential(
            nn.GroupNorm(groups, ch), nn.SiLU(), _zero(nn.Conv3d(ch, cfg.out_channels, 3, padding=1))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                hue: torch.Tensor | None = None) -> torch.Tensor:
        if self.pad_cpu_batch_of_one:
            return run_cpu_batch_of_one_as_two(self._forward, x, t, y, hue)
        return self._forward(x, t, y, hue)

    def _forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None,
                 hue: torch.Tensor | None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels).to(x.dtype))
        if self.class_emb is not None:
            if y is None:
                raise ValueError("this UNet is class-conditional: pass y (use num_classes for unconditional)")
            emb = emb + self.class_emb(y)
        if self.hue_emb is not None:
            none = torch.full((len(x),), torch.nan, device=x.device)
            emb = emb + self.hue_emb(none if hue is None else hue).to(emb.dtype)
        elif hue is not None:
            raise ValueError("this UNet takes no hue (UNetConfig.hue_conditional is off)")
        h = self.input_conv(x)
        skips = [h]
        for stage in self.down:
            h = stage(h, emb)
            skips.append(h)
        h = self.middle(h, emb)
        for stage in self.up:
            h = stage(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
