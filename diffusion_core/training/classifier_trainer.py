"""Training of the evaluation classifier (models.classifier) on fresh synthetic data.

    python -m diffusion_core train-classifier --resolution 16 --out models/classifier_16.safetensors
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.dataset import VoxelDataset, make_synthetic_dataset
from ..models.checkpoint import save_checkpoint
from ..models.classifier import ClassifierConfig, VoxelClassifier
from .loop import TrainingLoop


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Training on fresh synthetic data; the held-out set uses its own seed (neither is the diffusion's seed 0)."""

    resolution: int = 16
    width: int = 16
    train_samples: int = 6400
    heldout_samples: int = 1600
    data_seed: int = 1000
    heldout_seed: int = 1001
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0


def augment(occupancy: Tensor, generator: torch.Generator) -> Tensor:
    """A random symmetry of the square footprint (flip x, flip y, swap x/y) per batch: z stays up.

    occupancy [B, 1, R, R, R] (x, y, z) -> same shape. The shapes are already rotated by random angles
    about z, so these 8 symmetries keep them in distribution.
    """
    flips = torch.randint(0, 2, (3,), generator=generator).tolist()
    if flips[0]:
        occupancy = occupancy.flip(2)
    if flips[1]:
        occupancy = occupancy.flip(3)
    if flips[2]:
        occupancy = occupancy.transpose(2, 3)
    return occupancy


def _occupancy(dataset: VoxelDataset) -> Tensor:
    return torch.from_numpy(dataset.voxels[:, -1:] >= 0.5).float()


def fit(model: VoxelClassifier, dataset: VoxelDataset, cfg: ClassifierTrainConfig, progress: bool = True) -> list[float]:
    """Train with AdamW + cosine decay for cfg.epochs epochs; returns the loss of every step."""
    return _ClassifierTrainer(model, dataset, cfg, progress).run()


class _ClassifierTrainer(TrainingLoop):
    """Epochs of shuffled batches (one generator draws the order and the augmentations); every step is logged."""

    metric_keys = ("loss",)

    def __init__(self, model: VoxelClassifier, dataset: VoxelDataset, cfg: ClassifierTrainConfig, progress: bool):
        self.model, self.generator = model, torch.Generator().manual_seed(cfg.seed)
        self.x, self.y = _occupancy(dataset), torch.from_numpy(dataset.labels)
        steps_per_epoch = -(-len(self.y) // cfg.batch_size)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, cfg.epochs * steps_per_epoch)
        self.batches = (idx for _ in range(cfg.epochs)
                        for idx in torch.randperm(len(self.y), generator=self.generator).split(cfg.batch_size))
        super().__init__(steps=cfg.epochs * steps_per_epoch, start_step=0, log_every=1, checkpoint_every=None,
                         batch_size=cfg.batch_size, desc="classifier", metrics_path=None, show_progress=progress)
        model.train()

    def train_step(self) -> torch.Tensor:
        idx = next(self.batches)
        loss = F.cross_entropy(self.model(augment(self.x[idx], self.generator)), self.y[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss.detach()[None]

    def postfix(self, record: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{record['loss']:.3f}"}

    def finish(self) -> list[float]:
        return [record["loss"] for record in self.history]


def accuracy(model: VoxelClassifier, dataset: VoxelDataset) -> float:
    """Fraction of ``dataset`` the model labels correctly (labels index the model's own classes)."""
    return float((model.predict(dataset.voxels, threshold=0.5) == dataset.labels).mean())


def train_classifier(cfg: ClassifierTrainConfig, out: str | os.PathLike, progress: bool = True) -> float:
    """Build the synthetic train / held-out sets, fit, save to ``out``; returns the held-out accuracy."""
    torch.manual_seed(cfg.seed)
    train = make_synthetic_dataset(cfg.train_samples, resolution=cfg.resolution, seed=cfg.data_seed, only_mask=True)
    heldout = make_synthetic_dataset(cfg.heldout_samples, resolution=cfg.resolution, seed=cfg.heldout_seed,
                                     only_mask=True)
    model = VoxelClassifier(ClassifierConfig(cfg.resolution, len(train.class_names), cfg.width))
    start = time.perf_counter()
    losses = fit(model, train, cfg, progress)
    acc = accuracy(model, heldout)
    save_checkpoint(out, model_state=model.state_dict(), config={"classifier": asdict(model.cfg), "train": asdict(cfg)},
                    class_names=train.class_names, step=len(losses),
                    extra={"heldout_accuracy": acc, "final_loss": float(np.mean(losses[-20:])),
                           "train_seconds": round(time.perf_counter() - start, 1)})
    return acc


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m diffusion_core train-classifier --resolution 16 --out X.safetensors [--epochs N ...]`."""
    defaults = ClassifierTrainConfig()
    p = argparse.ArgumentParser(prog="python -m diffusion_core train-classifier",
                                description="Train the evaluation shape classifier on synthetic data.")
    p.add_argument("--out", required=True, help="output .safetensors path")
    for name, value in asdict(defaults).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = vars(p.parse_args(argv))
    out, threads = args.pop("out"), args.pop("threads")
    torch.set_num_threads(threads)
    cfg = replace(defaults, **args)
    acc = train_classifier(cfg, out)
    print(f"held-out accuracy {acc:.4f} on {cfg.heldout_samples} samples; saved {out}")
    return 0
