"""Train the VoxelVAE used by latent diffusion.

    python -m diffusion_core train-vae --config configs/vae_16.json --out runs/NAME [--optim.steps 6000 ...]
    python -m diffusion_core train-vae --out runs/NAME --resume [--optim.steps 8000]
    python -m diffusion_core train-vae --config configs/vae_32_f4_decoder.json --out runs/NAME   # decoder only

A run may start from the VAE of another checkpoint (`init_from`: a VAE run's or a latent model's) and train its
decoder alone (`freeze_encoder`): the latents, and so a latent diffusion model trained on them, stay valid, and
`scripts/swap_decoder.py` (models.latent.swap_decoder) puts the new decoder into the latent model's file.

Loss per sample: BCE on the occupancy logit + rgb_weight * occupancy-weighted MSE of the RGB (in [0, 1],
only where the target is occupied) + kl_weight * KL(posterior || N(0, I)). AdamW, linear warm-up then
cosine decay to 10% of lr. The batch of step s depends only on (seed, s), so --resume reproduces a
straight run. Run directory:
    config.json             the effective VAETrainConfig
    metrics.jsonl           step, loss, bce, rgb, kl, iou (training batches), samples_per_s; and
                            held-out evaluations {step, heldout_iou, heldout_rgb_error}
    ckpt_last.safetensors   weights + optimizer; metadata extra: heldout_iou, heldout_rgb_error and,
                            at the end of a run, latent_shift / latent_scale tensors [C_lat] (per-channel
                            mean / std of the posterior means over the training set)
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD

from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..data.dataset import VoxelDataset, make_synthetic_dataset
from ..models.latent import LatentCodec, encode_means, latent_stats
from .loop import CHECKPOINT_NAME, METRICS_NAME, TrainingLoop, append_record, open_run, write_config
from .lr_schedule import warmup_cosine_lr
from ..evaluation.metrics import single_component
from .config import DataConfig, apply_overrides, build_config
from ..models.vae import VAEConfig, VoxelVAE, kl_divergence, logits_to_model_space

HELDOUT_SEED_OFFSET = 1_000_003
"""The held-out set is built with data.seed + this offset (disjoint random streams from the training set)."""
SCORE_KEYS = ("heldout_iou", "heldout_rgb_error", "heldout_connected")


@dataclass(frozen=True)
class VAEOptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    grad_clip: float = 1.0
    batch_size: int = 32
    steps: int = 6000
    schedule_steps: int | None = None
    """Length of the cosine decay (None: `steps`). Longer than `steps`: the run stops part-way through a longer
    schedule, as the bundled 8^3 VAE did (its 2400-step schedule stopped at step 1200)."""


@dataclass(frozen=True)
class VAELossConfig:
    rgb_weight: float = 1.0
    kl_weight: float = 1e-4


@dataclass(frozen=True)
class VAETrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: VAEConfig = field(default_factory=VAEConfig)
    optim: VAEOptimConfig = field(default_factory=VAEOptimConfig)
    loss: VAELossConfig = field(default_factory=VAELossConfig)
    heldout_samples: int = 512
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    init_from: str | None = None
    """Start from the VAE of this checkpoint (a VAE run's, or a latent model's embedded one), not random weights."""
    freeze_encoder: bool = False
    """Train the decoder only (needs init_from): the encoder, its latents and their normalisation stay init_from's."""
    latent_noise: float = 0.0
    """Std of Gaussian noise added to the latent before the decoder in training, in units of init_from's latent
    normalisation (the denoiser's space; needs freeze_encoder): a decoder for the sampler's latents, which lie further
    from the encoder's than a round trip's (scripts/latent_offset.py)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", replace(self.model, in_channels=self.data.channels))
        self.model.latent_resolution(self.data.resolution)  # validates divisibility
        if self.freeze_encoder and self.init_from is None:
            raise ValueError("freeze_encoder needs init_from: the encoder whose latents are kept")
        if not 0.0 <= self.latent_noise < float("inf"):
            raise ValueError(f"latent_noise must be a finite number >= 0, got {self.latent_noise}")
        if self.latent_noise > 0 and not self.freeze_encoder:
            raise ValueError("latent_noise needs freeze_encoder: the noise is in units of init_from's fixed latents")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAETrainConfig:
        return build_config(cls, d)


def vae_losses(vae: VoxelVAE, x: torch.Tensor, loss_cfg: VAELossConfig,
               generator: torch.Generator | None = None,
               latent_noise_std: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """x [B, C, R, R, R] in [-1, 1] -> dict of [B] tensors: loss, bce, rgb, kl, iou. `latent_noise_std`
    [latent_channels]: VoxelVAE.forward's extra latent noise (None: none)."""
    logits, mean, logvar = vae(x, generator, latent_noise_std)
    target = (x + 1) / 2
    occ = target[:, -1:]
    bce = F.binary_cross_entropy_with_logits(logits[:, -1:], occ, reduction="none").flatten(1).mean(1)
    if x.shape[1] > 1:
        sq = (torch.sigmoid(logits[:, :-1]) - target[:, :-1]).pow(2).mean(1, keepdim=True) * occ
        rgb = sq.flatten(1).sum(1) / occ.flatten(1).sum(1).clamp_min(1.0)
    else:
        rgb = torch.zeros_like(bce)
    kl = kl_divergence(mean, logvar)
    loss = bce + loss_cfg.rgb_weight * rgb + loss_cfg.kl_weight * kl
    return {"loss": loss, "bce": bce, "rgb": rgb, "kl": kl, "iou": occupancy_iou(logits[:, -1:] > 0, occ > 0.5)}


def occupancy_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample IoU of boolean grids [B, 1, R, R, R] -> [B] (1 when both are empty)."""
    inter = (pred & target).flatten(1).sum(1).float()
    union = (pred | target).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))


@torch.no_grad()
def evaluate(vae: VoxelVAE, dataset: VoxelDataset, batch_size: int = 128) -> dict[str, float]:
    """Reconstruct through the posterior mean: mean IoU of occupancy (p >= 0.5), mean |RGB error| in [0, 1]
    over voxels occupied in both target and reconstruction, and the fraction of reconstructions that are one
    6-connected component at the sampling threshold (thin parts are the first to break there)."""
    vae.eval()
    ious, connected, err_sum, err_count = [], [], 0.0, 0
    for i in range(0, len(dataset), batch_size):
        target = torch.from_numpy(dataset.voxels[i:i + batch_size])
        recon = (logits_to_model_space(vae.decode_logits(vae.encode(target * 2 - 1)[0])) + 1) / 2
        pred_occ, occ = recon[:, -1:] >= 0.5, target[:, -1:] >= 0.5
        ious.append(occupancy_iou(pred_occ, occ))
        connected.append(single_component(recon[:, -1].numpy() >= DEFAULT_ALPHA_THRESHOLD))
        if target.shape[1] > 1:
            both = (pred_occ & occ).expand(-1, target.shape[1] - 1, -1, -1, -1)
            err_sum += (recon[:, :-1] - target[:, :-1]).abs()[both].sum().item()
            err_count += int(both.sum())
    vae.train()
    return {"heldout_iou": torch.cat(ious).mean().item(), "heldout_rgb_error": err_sum / max(err_count, 1),
            "heldout_connected": float(np.concatenate(connected).mean())}


def heldout_set(cfg: VAETrainConfig) -> VoxelDataset:
    """The run's held-out shapes (never trained on): `heldout_samples` from seed data.seed + HELDOUT_SEED_OFFSET."""
    d = cfg.data
    return make_synthetic_dataset(cfg.heldout_samples, d.resolution, seed=d.seed + HELDOUT_SEED_OFFSET,
                                  only_mask=d.only_mask)


def train_vae(cfg: VAETrainConfig, out_dir: str | Path, resume: bool = False) -> VoxelVAE:
    """Train (or resume) the VAE run in `out_dir` to cfg.optim.steps; returns the trained VAE."""
    return _VAETrainer(cfg, Path(out_dir), resume).run()


class _VAETrainer(TrainingLoop):
    metric_keys = ("loss", "bce", "rgb", "kl", "iou")

    def __init__(self, cfg: VAETrainConfig, out_dir: Path, resume: bool) -> None:
        ckpt = open_run(out_dir, resume)
        if ckpt is not None and VAETrainConfig.from_dict(ckpt.config["train"]).model != cfg.model:
            raise ValueError("--resume cannot change the model config of a run")
        write_config(out_dir, cfg.to_dict())
        self.cfg, self.out_dir = cfg, out_dir
        d = cfg.data
        self.train_set = make_synthetic_dataset(d.num_samples, d.resolution, seed=d.seed, only_mask=d.only_mask,
                                               class_weights=d.class_weights)
        self.heldout = heldout_set(cfg)
        torch.manual_seed(cfg.seed)
        self.vae = VoxelVAE(cfg.model)
        self.source = None if cfg.init_from is None else LatentCodec.from_checkpoint(load_checkpoint(cfg.init_from))
        if self.source is not None:
            if self.source.config != cfg.model:
                raise ValueError(f"init_from {cfg.init_from}: its VAE config {self.source.config} is not model {cfg.model}")
            self.vae.load_state_dict(self.source.vae.state_dict())
        self.vae.encoder.requires_grad_(not cfg.freeze_encoder)
        self.latent_noise_std = None if cfg.latent_noise == 0 else cfg.latent_noise * self.source.scale.float()
        self.params = [p for p in self.vae.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        self.scores: dict[str, float] = {}
        if ckpt is not None:
            self.vae.load_state_dict(ckpt.model_state)
            self.optimizer.load_state_dict(ckpt.optimizer_state)
            self.scores = {k: ckpt.extra[k] for k in SCORE_KEYS if k in ckpt.extra}
        super().__init__(steps=cfg.optim.steps, start_step=0 if ckpt is None else ckpt.step, log_every=cfg.log_every,
                         checkpoint_every=cfg.checkpoint_every, batch_size=cfg.optim.batch_size, desc=out_dir.name,
                         metrics_path=out_dir / METRICS_NAME)
        self.vae.train()

    def train_step(self) -> torch.Tensor:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.step)
        idx = torch.randint(0, len(self.train_set), (cfg.optim.batch_size,), generator=gen).numpy()
        x = torch.from_numpy(self.train_set.voxels[idx] * 2 - 1)
        for group in self.optimizer.param_groups:
            group["lr"] = _lr(cfg.optim, self.step)
        losses = vae_losses(self.vae, x, cfg.loss, gen, self.latent_noise_std)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].mean().backward()
        torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip)
        self.optimizer.step()
        return torch.stack([losses[k].detach().mean() for k in self.metric_keys])

    def postfix(self, record: dict[str, Any]) -> dict[str, str]:
        val = {"val_iou": f"{self.scores['heldout_iou']:.3f}"} if self.scores else {}
        return {"loss": f"{record['loss']:.4f}", "iou": f"{record['iou']:.3f}", **val}

    def _score(self) -> None:
        self.scores = evaluate(self.vae, self.heldout)
        append_record(self.metrics_path, {"step": self.step, **self.scores})

    def _save(self, extra: dict[str, Any]) -> None:
        cfg = self.cfg
        save_checkpoint(self.out_dir / CHECKPOINT_NAME, model_state=self.vae.state_dict(),
                        optimizer_state=self.optimizer.state_dict(),
                        config={"vae": asdict(cfg.model), "data": asdict(cfg.data), "train": cfg.to_dict()},
                        class_names=self.train_set.class_names, step=self.step,
                        extra={"model_name": self.out_dir.name, **self.scores, **extra})

    def checkpoint(self) -> None:
        self._score()
        self._save({})

    def finish(self) -> VoxelVAE:
        """Score the held-out set and store the latent normalisation (shift, scale) with the final weights: over
        the training set, or init_from's where the encoder was frozen (its latents are unchanged)."""
        self._score()
        if self.cfg.freeze_encoder:
            shift, scale = self.source.shift.clone(), self.source.scale.clone()
        else:
            shift, scale = latent_stats(encode_means(self.vae, self.train_set))
        self._save({"latent_shift": shift, "latent_scale": scale})
        print(json.dumps({"step": self.step, **self.scores, "latent_scale": [round(v, 4) for v in scale.tolist()]}))
        return self.vae


def _lr(optim: VAEOptimConfig, step: int) -> float:
    """Linear warm-up, then cosine decay from lr to lr / 10 at optim.schedule_steps (default optim.steps)."""
    end = optim.schedule_steps or optim.steps
    return warmup_cosine_lr(step, optim.lr, optim.warmup_steps, optim.warmup_steps,
                            max(1, end - optim.warmup_steps), final_fraction=0.1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m diffusion_core train-vae", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="JSON config (not needed with --resume)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from ckpt_last")
    args, rest = parser.parse_known_args(argv)
    if len(rest) % 2 or any(not k.startswith("--") for k in rest[::2]):
        parser.error(f"overrides must be --section.field VALUE pairs, got {rest}")
    overrides = [(k[2:], v) for k, v in zip(rest[::2], rest[1::2])]
    if args.resume:
        base = load_checkpoint(args.out / CHECKPOINT_NAME).config["train"]
    elif args.config is None:
        parser.error("--config is required (unless --resume)")
    else:
        base = json.loads(args.config.read_text())
    train_vae(VAETrainConfig.from_dict(apply_overrides(base, overrides)), args.out, resume=args.resume)

