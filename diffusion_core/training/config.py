"""Training configuration: frozen dataclasses, JSON files, and `--section.field value` overrides.

A config file is JSON with the sections of TrainConfig, e.g.
    {"data": {"resolution": 16, ...}, "model": {"base_channels": 32, ...},
     "diffusion": {"schedule": "cosine", ...}, "optim": {"lr": 2e-4, ...}, "device": "auto"}
Missing fields take the dataclass defaults; unknown fields are errors. The model fields that
follow from the data and diffusion (resolution, in_channels, num_classes, learn_sigma) are
derived and may be left out; if given they must agree.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..models.checkpoint import read_checkpoint_config
from ..diffusion.gaussian import DiffusionConfig
from ..data.dataset import class_counts
from ..data.shapes import CLASS_NAMES
from ..models.unet import UNetConfig
from ..models.vae import VAEConfig


DERIVED_MODEL_FIELDS = ("resolution", "in_channels", "num_classes", "learn_sigma")
"""UNetConfig fields that follow from the data and diffusion sections (set by TrainConfig)."""


@dataclass(frozen=True)
class DataConfig:
    """The synthetic training set, built once per run from `seed`.

    `vae_checkpoint` (a training.vae_trainer checkpoint) turns on latent diffusion: the set is
    encoded once with that VAE and the UNet is trained on its normalised latents (see latent.py).
    """

    resolution: int = 16
    num_samples: int = 4096
    seed: int = 0
    only_mask: bool = False
    vae_checkpoint: str | None = None
    class_weights: dict[str, float] | None = None
    """Class name -> relative share of the set (1 where unnamed; data.dataset.class_counts), e.g. a stage that
    shows the model more of the classes it draws worst. None: every class the same share."""

    def __post_init__(self) -> None:
        class_counts(self.num_samples, CLASS_NAMES, self.class_weights)

    @property
    def channels(self) -> int:
        return 1 if self.only_mask else 4


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up to a constant `lr`, then (if `cooldown_steps` > 0) a cosine decay to 0 over
    the last `cooldown_steps` of `steps`; `batch_size` is global (split across ranks)."""

    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 500
    grad_clip: float = 1.0
    batch_size: int = 32
    steps: int = 20000
    ema_decay: float = 0.999
    label_dropout: float = 0.1  # P(label -> null label), trains the unconditional model for guidance
    cooldown_steps: int = 0
    min_timestep: int = 0
    """Train on timesteps drawn uniformly from min_timestep..T-1 only: a stage for the high-noise steps (where
    an object's colour is decided). Every noise level shares the weights, so the low-noise predictions drift
    (README "Colour fidelity": tried once, noise error 10-20% lower at high noise and doubled at t = 50)."""

    hue_lr_scale: float = 1.0
    """The hue embedding's learning rate, as a multiple of lr. An embedding added to a trained network (init_from)
    starts at zero and Adam moves each weight by about lr per step, so at the network's fine-tuning rate it would
    take thousands of steps to reach the scale of the class embedding it sits beside."""

    high_noise_weight: float = 1.0
    """Up to this many times the weight for the noise error at high noise: each sample's L_simple is weighted by
    1/SNR(t) = (1 - abar) / abar clamped to [1, high_noise_weight]. In eps units an error in x_0 counts SNR(t) times
    over, so at high noise, where an object's colour is decided, plain L_simple hardly sees it (1: plain L_simple;
    the logged loss stays unweighted)."""

    def __post_init__(self) -> None:
        if self.high_noise_weight < 1:
            raise ValueError(f"optim.high_noise_weight must be >= 1, got {self.high_noise_weight}")
        if self.hue_lr_scale <= 0:
            raise ValueError(f"optim.hue_lr_scale must be > 0, got {self.hue_lr_scale}")
        if not 0 <= self.cooldown_steps <= self.steps:
            raise ValueError(f"optim.cooldown_steps must be in 0..steps ({self.steps}), got {self.cooldown_steps}")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint_every: int = 1000
    preview_every: int = 1000
    log_every: int = 50
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    bf16: bool = True  # bf16 autocast, used on CUDA only
    seed: int = 0  # weight init, data order, noise and timesteps
    init_from: str | None = None
    """A new run starts from this checkpoint's inference (EMA) weights instead of a random init: fine-tuning a
    bundled model. Same UNet, classes and (latent runs) VAE; the optimizer and the step count start afresh. The one
    change allowed: model.hue_conditional on where the checkpoint has it off (the new hue embedding starts at zero,
    so the run starts from the checkpoint's predictions exactly)."""

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        object.__setattr__(self, "model", dataclasses.replace(self.model, **self._derived_model_fields()))
        for name in ("checkpoint_every", "preview_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.optim.label_dropout <= 1.0:
            raise ValueError("optim.label_dropout must be in [0, 1]")
        if self.model.hue_conditional and self.data.only_mask:
            raise ValueError("model.hue_conditional needs colour: data.only_mask has none")
        if not 0 <= self.optim.min_timestep < self.diffusion.num_timesteps:
            raise ValueError(f"optim.min_timestep must be in 0..{self.diffusion.num_timesteps - 1}, "
                             f"got {self.optim.min_timestep}")

    def _derived_model_fields(self) -> dict[str, Any]:
        """Values for DERIVED_MODEL_FIELDS (the latent grid's size and channels for a latent run)."""
        resolution, channels = self.data.resolution, self.data.channels
        vae = self.vae_config()
        if vae is not None:
            if vae.in_channels != channels:
                raise ValueError(f"the VAE encodes {vae.in_channels} channels but the data has {channels}")
            resolution, channels = vae.latent_resolution(resolution), vae.latent_channels
        return {"resolution": resolution, "in_channels": channels,
                "num_classes": len(CLASS_NAMES), "learn_sigma": self.diffusion.learn_sigma}

    def vae_config(self) -> VAEConfig | None:
        """The architecture of data.vae_checkpoint (read from its metadata), or None for pixel diffusion."""
        if self.data.vae_checkpoint is None:
            return None
        return VAEConfig(**read_checkpoint_config(self.data.vae_checkpoint)["vae"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def model_config(self) -> dict[str, Any]:
        """The checkpoint `config`: {"unet", "diffusion", "data", "train"} (rebuilds the model)."""
        return {"unet": asdict(self.model), "diffusion": asdict(self.diffusion), "data": asdict(self.data),
                "train": self.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from nested dicts; model fields derived from data/diffusion must agree if given."""
        cfg = build_config(cls, d)
        model_json = json.loads(json.dumps(asdict(cfg.model)))
        for key, value in d.get("model", {}).items():
            if key in DERIVED_MODEL_FIELDS and model_json[key] != value:
                raise ValueError(f"model.{key}={value!r} conflicts with the derived value {model_json[key]!r}")
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        with open(path) as f:
            return cls.from_dict(json.load(f))


def build_dataclass(cls: type, values: Any, where: str) -> Any:
    """`cls(**values)` for a JSON object (a dataclass instance passes through); unknown keys are errors."""
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object")
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {where} field(s): {', '.join(sorted(unknown))}")
    return cls(**values)


def build_config(cls: type, d: dict[str, Any]) -> Any:
    """A config dataclass from nested JSON: every field typed as a dataclass (a section such as `optim`)
    is built from its own object (missing -> defaults), then the config itself; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    sections = {f.name: build_dataclass(hints[f.name], d.get(f.name, {}), f.name)
                for f in fields(cls) if dataclasses.is_dataclass(hints[f.name])}
    return build_dataclass(cls, {**d, **sections}, "config")


def apply_overrides(d: dict[str, Any], overrides: list[tuple[str, str]]) -> dict[str, Any]:
    """Apply ("optim.lr", "1e-4")-style overrides to a nested config dict (values parsed as JSON,
    falling back to the raw string, so `--device cpu` and `--optim.lr 1e-4` both work)."""
    d = json.loads(json.dumps(d))
    for dotted, raw in overrides:
        *parents, leaf = dotted.split(".")
        node = d
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = json.loads(raw)
        except json.JSONDecodeError:
            node[leaf] = raw
    return d
