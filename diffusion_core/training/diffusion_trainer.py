"""Train a class-conditional voxel diffusion model.

    python -m diffusion_core train --config configs/default_16.json --out runs/NAME [--optim.lr 1e-4 ...]
    python -m diffusion_core train --out runs/NAME --resume [--optim.steps 40000]
    python -m diffusion_core train --config C --out runs/NAME --init_from models/M.safetensors   (fine-tune M)
    torchrun --nproc-per-node=N -m diffusion_core train ...      (same flags; DDP, gloo on CPU / nccl on CUDA)

Run directory (written by rank 0):
    config.json              the effective TrainConfig
    dataset.npz              the synthetic training set, built once (resume reloads it)
    latents.npz              latent runs (data.vae_checkpoint set): the set encoded by the VAE, built once
    metrics.jsonl            one line per log_every steps: step, loss, mse, vb, lr, samples_per_s
    loss.png                 loss curve, redrawn with every preview and at the end
    previews/step_XXXXXXX.png  guided EMA samples, one per class for a few classes
    ckpt_last.safetensors    full training state (atomic, every checkpoint_every steps and at the end)
    model_ema_fp16.safetensors  EMA-only float16 export of the final weights (for inference/bundling)

Latent diffusion: with data.vae_checkpoint the UNet is trained on normalised VAE latents (its
resolution and in_channels follow from the VAE), previews are decoded through the VAE, and every
checkpoint embeds the VAE weights + latent shift/scale (extra `codec.*`) and its config (config["vae"]),
so one file is self-contained (export keeps them). Resume uses the embedded VAE.

Randomness is counter-based (see distributed.step_seed and DataOrder): the batch, timesteps, noise,
label dropout and dropout masks of step s depend only on (seed, s, rank), so `--resume` reproduces
an uninterrupted run exactly, with no RNG state to carry beyond the step counter.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import distributed as D
from ..models.checkpoint import (CODEC_PREFIX, Checkpoint, export_inference_checkpoint, load_checkpoint,
                                 save_checkpoint)
from ..data.dataset import VoxelDataset, make_synthetic_dataset
from ..diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from .ema import EMA
from .loop import CHECKPOINT_NAME, METRICS_NAME, TrainingLoop, open_run, read_records, write_config, write_records
from ..models.latent import LatentCodec, LatentDataset, encode_dataset
from .lr_schedule import warmup_cosine_lr
from ..pipeline import to_voxels
from ..evaluation.render import plot_loss_curve, render_voxel_grid_png
from ..diffusion.samplers import sample
from .config import DERIVED_MODEL_FIELDS, TrainConfig, apply_overrides
from ..models.hue import seed_hues
from ..models.unet import UNet3D, UNetConfig

EXPORT_NAME = "model_ema_fp16.safetensors"
DATASET_NAME = "dataset.npz"
LATENTS_NAME = "latents.npz"
PREVIEW_CLASSES = 4
PREVIEW_STEPS = 25
PREVIEW_GUIDANCE = 3.0
_METRIC_KEYS = ("loss", "mse", "vb")


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = False) -> nn.Module:
    """Train (or resume) the run in `out_dir` to cfg.optim.steps; returns the trained raw model."""
    out_dir = Path(out_dir)
    device = D.resolve_device(cfg.device, D.local_rank_from_env())
    info = D.init_distributed(device)
    try:
        return _Trainer(cfg, out_dir, resume, device, info).run()
    finally:
        D.shutdown(info)


class _Trainer(TrainingLoop):
    metric_keys = _METRIC_KEYS

    def __init__(self, cfg: TrainConfig, out_dir: Path, resume: bool, device: torch.device, info: D.DistInfo):
        self.cfg, self.out_dir, self.device, self.info = cfg, out_dir, device, info
        ckpt = open_run(out_dir, resume)
        self.sampling_changed = False  # a resume changed diffusion.clip_x0: finish rewrites the checkpoint
        if ckpt is not None:
            stored = TrainConfig.from_dict(ckpt.config["train"])
            for section in ("data", "model", "diffusion"):
                if _trained_part(getattr(stored, section)) != _trained_part(getattr(cfg, section)):
                    raise ValueError(f"--resume cannot change the {section} config of a run")
            self.sampling_changed = stored.diffusion != cfg.diffusion
        if info.is_main:
            write_config(out_dir, cfg.to_dict())
        self.codec = self._codec(ckpt)
        self.dataset = self._dataset(resume)
        self.class_names = list(self.dataset.class_names)
        self.null_label = len(self.class_names)

        torch.manual_seed(cfg.seed)
        self.model = UNet3D(cfg.model).to(device)
        self.diffusion = GaussianDiffusion.from_config(cfg.diffusion)
        groups, self.lr_scales = self._param_groups()
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        self.ema = EMA(self.model, cfg.optim.ema_decay)
        super().__init__(steps=cfg.optim.steps, start_step=0, log_every=cfg.log_every,
                         checkpoint_every=cfg.checkpoint_every, batch_size=cfg.optim.batch_size, desc=out_dir.name,
                         metrics_path=out_dir / METRICS_NAME, is_main=info.is_main, show_progress=info.is_main)
        if ckpt is not None:
            self._restore(ckpt)
        elif cfg.init_from is not None:
            self._init_weights(load_checkpoint(cfg.init_from))
        self.ddp = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None) \
            if info.enabled else self.model
        self.order = D.DataOrder(len(self.dataset), cfg.optim.batch_size, cfg.seed, info)
        self.history = read_records(out_dir / METRICS_NAME, upto=self.step) if info.is_main else []
        if info.is_main:
            write_records(out_dir / METRICS_NAME, self.history)

    def _param_groups(self) -> tuple[list[dict[str, Any]], list[float]]:
        """The optimizer's parameter groups and each one's learning-rate multiple: the hue embedding's (a group of
        its own) is optim.hue_lr_scale."""
        named = list(self.model.named_parameters())
        hue = [p for name, p in named if name.startswith("hue_emb.")]
        rest = [p for name, p in named if not name.startswith("hue_emb.")]
        if not hue:
            return [{"params": rest}], [1.0]
        return [{"params": rest}, {"params": hue}], [1.0, self.cfg.optim.hue_lr_scale]

    def _codec(self, ckpt: Checkpoint | None) -> LatentCodec | None:
        """The VAE of a latent run: embedded in the run's checkpoint on resume, else data.vae_checkpoint."""
        if self.cfg.data.vae_checkpoint is None:
            return None
        return LatentCodec.from_checkpoint(ckpt or load_checkpoint(self.cfg.data.vae_checkpoint)).to(self.device)

    def _dataset(self, resume: bool) -> VoxelDataset | LatentDataset:
        """Rank 0 builds the seeded synthetic set (and for latent runs its encoding) once and caches it;
        everyone else (and resume) loads it."""
        path = self.out_dir / DATASET_NAME
        latents = self.out_dir / LATENTS_NAME
        if self.info.is_main and not (resume and path.exists()):
            d = self.cfg.data
            dataset = make_synthetic_dataset(d.num_samples, resolution=d.resolution, seed=d.seed, only_mask=d.only_mask,
                                             class_weights=d.class_weights)
            _save_atomic(dataset, path)
        if self.info.is_main and self.codec is not None and not (resume and latents.exists()):
            _save_atomic(encode_dataset(self.codec.cpu(), VoxelDataset.load(path)), latents)
            self.codec.to(self.device)
        D.barrier(self.info)
        return VoxelDataset.load(path) if self.codec is None else LatentDataset.load(latents)

    def _restore(self, ckpt: Checkpoint) -> None:
        self.model.load_state_dict(ckpt.model_state)
        self.ema.load_state_dict(ckpt.ema_state)
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        self.step = ckpt.step
        # The stored sums are already totalled over ranks: rank 0 carries them, the others start at zero.
        self.accum = ckpt.extra["metrics_accum"].double() if self.info.is_main else torch.zeros_like(self.accum)

    def _init_weights(self, source: Checkpoint) -> None:
        """Live and EMA weights from `source`'s inference weights (cfg.init_from), which must be a model of this
        run's UNet and classes, and for a latent run carry the very VAE of data.vae_checkpoint (else its latents
        would mean something else)."""
        where = f"init_from {self.cfg.init_from}"
        theirs_unet = UNetConfig(**source.config.get("unet", {}))
        adds_hue = self.cfg.model.hue_conditional and not theirs_unet.hue_conditional
        if replace(theirs_unet, hue_conditional=self.cfg.model.hue_conditional) != self.cfg.model:
            raise ValueError(f"{where}: its UNet config differs from this run's model config")
        if source.class_names != self.class_names:
            raise ValueError(f"{where}: its classes differ from the data set's")
        theirs = {k: v.float() for k, v in source.extra.items() if k.startswith(CODEC_PREFIX)}
        mine = {k: v.cpu() for k, v in self.codec.checkpoint_extra().items()} if self.codec is not None else {}
        if theirs.keys() != mine.keys() or any(not torch.equal(mine[k], theirs[k]) for k in mine):
            raise ValueError(f"{where}: its VAE differs from data.vae_checkpoint's "
                             f"(a latent model is fine-tuned on its own latents: set data.vae_checkpoint to it)")
        state = {k: v.float() for k, v in source.inference_state().items()}
        if adds_hue:  # the fresh hue embedding (zero output) joins the checkpoint's weights
            state.update({k: v for k, v in self.model.state_dict().items() if k.startswith("hue_emb.")})
        self.model.load_state_dict(state)
        self.ema.load_state_dict(state)

    def train_step(self) -> torch.Tensor:
        """One optimisation step; returns this rank's mean [loss, mse, vb] (detached)."""
        cfg, device = self.cfg, self.device
        indices = self.order.indices(self.step)
        x0, y = self._batch(indices)
        gen = torch.Generator().manual_seed(D.step_seed(cfg.seed, self.step, self.info.rank))
        t = torch.randint(cfg.optim.min_timestep, self.diffusion.num_timesteps, (len(y),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        y = torch.where(torch.rand(len(y), generator=gen) < cfg.optim.label_dropout, self.null_label, y)
        conditions = {"y": y}
        if cfg.model.hue_conditional:  # dropped (NaN) as often as the label, independently of it
            hue = torch.from_numpy(self.dataset.hues[indices.numpy()])
            conditions["hue"] = torch.where(torch.rand(len(y), generator=gen) < cfg.optim.label_dropout, torch.nan, hue)
        torch.manual_seed(D.step_seed(cfg.seed, self.step, self.info.rank) + 1)  # dropout masks
        t, noise, x0 = t.to(device), noise.to(device), x0.to(device)
        conditions = {k: v.to(device) for k, v in conditions.items()}

        for group, scale in zip(self.optimizer.param_groups, self.lr_scales):
            group["lr"] = self.lr(self.step) * scale
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda"):
            losses = self.diffusion.training_losses(self.ddp, x0, t, conditions, noise=noise)
        loss = (losses["loss"] + (self.noise_weight(t) - 1) * losses["mse"]).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model, self.step + 1)
        return torch.stack([losses[k].detach().float().mean() for k in _METRIC_KEYS])

    def noise_weight(self, t: torch.Tensor) -> torch.Tensor:
        """The weight of each sample's L_simple at timesteps t [b]: 1/SNR(t) clamped to [1, optim.high_noise_weight]."""
        return self.diffusion.inverse_snr(t).clamp(1.0, self.cfg.optim.high_noise_weight)

    def lr(self, step: int) -> float:
        """Linear warm-up over warmup_steps, constant, then cosine to 0 over the last cooldown_steps."""
        optim = self.cfg.optim
        return warmup_cosine_lr(step, optim.lr, optim.warmup_steps, optim.steps - optim.cooldown_steps,
                                optim.cooldown_steps)

    def _batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x0 [b, C, R, R, R] in [-1, 1] and labels [b] for dataset `indices`."""
        items = [self.dataset[int(i)] for i in indices]
        return torch.stack([x for x, _ in items]), torch.tensor([label for _, label in items], dtype=torch.long)

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        return D.all_reduce_sum(totals, self.info)

    def record_extra(self) -> dict[str, Any]:
        return {"lr": self.lr(self.step - 1)}

    def postfix(self, record: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{record['loss']:.4f}", "samples_s": f"{record['samples_per_s']:.1f}"}

    def after_step(self) -> None:
        if self.step % self.cfg.preview_every == 0 and self.info.is_main:
            self._preview()

    def checkpoint_due(self) -> bool:
        return self.step % self.checkpoint_every == 0 or self.step == self.steps

    def finish(self) -> nn.Module:
        """A preview of the final weights (unless one was just drawn) and the float16 EMA export (after the
        checkpoint is rewritten if a resume changed only the sampling config, so both carry the new one)."""
        if self.sampling_changed:
            self.checkpoint()
        if self.info.is_main:
            if self.step % self.cfg.preview_every:
                self._preview()
            export_inference_checkpoint(self.out_dir / CHECKPOINT_NAME, self.out_dir / EXPORT_NAME)
        D.barrier(self.info)
        return self.model

    @torch.no_grad()
    def _preview(self) -> None:
        """Guided EMA samples for a few evenly spread classes, plus a fresh loss curve."""
        k = min(PREVIEW_CLASSES, self.null_label)
        labels = np.linspace(0, self.null_label - 1, k).round().astype(int).tolist()
        r, c = self.cfg.model.resolution, self.cfg.model.in_channels
        x = sample(self.ema.module, self.diffusion, (k, c, r, r, r),
                   steps=min(PREVIEW_STEPS, self.diffusion.num_timesteps), sampler="ddim",
                   labels=torch.tensor(labels), guidance=PREVIEW_GUIDANCE, seeds=list(range(k)),
                   hues=torch.tensor(seed_hues(range(k))) if self.cfg.model.hue_conditional else None,
                   device=self.device, null_label=self.null_label,
                   clip_x0=self.cfg.diffusion.x0_clip(latent=self.codec is not None), eta=0.0)
        (self.out_dir / "previews").mkdir(exist_ok=True)
        if self.codec is not None:
            x = self.codec.decode(x)
        render_voxel_grid_png(to_voxels(x), self.out_dir / "previews" / f"step_{self.step:07d}.png",
                              titles=[self.class_names[i] for i in labels])
        if self.history:
            plot_loss_curve([h["step"] for h in self.history], [h["loss"] for h in self.history],
                            self.out_dir / "loss.png")

    def checkpoint(self) -> None:
        accum = D.all_reduce_sum(self.accum, self.info)  # partial log interval
        if self.info.is_main:
            epoch, batch = self.order.position(self.step)
            config, codec = self.cfg.model_config(), {}
            if self.codec is not None:
                config["vae"], codec = asdict(self.codec.config), self.codec.checkpoint_extra()
            save_checkpoint(
                self.out_dir / CHECKPOINT_NAME,
                model_state=self.model.state_dict(),
                ema_state=self.ema.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                config=config,
                class_names=self.class_names,
                step=self.step,
                extra={"model_name": self.out_dir.name, "metrics_accum": accum,
                       "data_position": {"epoch": epoch, "batch": batch}, "world_size": self.info.world_size, **codec},
            )
        D.barrier(self.info)


def _trained_part(section: Any) -> Any:
    """A config section without its sampling-only fields (diffusion.clip_x0), which a resume may change."""
    return replace(section, clip_x0=None) if isinstance(section, DiffusionConfig) else section


def _save_atomic(dataset: VoxelDataset | LatentDataset, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    dataset.save(tmp)
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffusion_core train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="JSON config (not needed with --resume)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from ckpt_last")
    overrides = parser.add_argument_group("overrides (JSON values; e.g. --optim.lr 1e-4 --device cpu)")
    derived = {f"model.{name}" for name in DERIVED_MODEL_FIELDS}
    for name, value in _flat(TrainConfig().to_dict()):
        if name in derived:
            continue
        overrides.add_argument(f"--{name}", dest=f"override:{name}", metavar="V", help=f"default {json.dumps(value)}")
    return parser


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in d.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((prefix + key, value))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    overrides = [(k.split(":", 1)[1], v) for k, v in vars(args).items() if k.startswith("override:") and v is not None]
    if args.resume:
        base = load_checkpoint(args.out / CHECKPOINT_NAME).config["train"]
    elif args.config is None:
        raise SystemExit("--config is required (unless --resume)")
    else:
        base = json.loads(args.config.read_text())
    cfg = TrainConfig.from_dict(apply_overrides(base, overrides))
    train(cfg, args.out, resume=args.resume)

