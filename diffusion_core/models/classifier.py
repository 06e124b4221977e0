"""A small 3D CNN that names the shape class of a voxel grid (for evaluation), and its checkpoint loader.

The classifier sees only the occupancy (alpha >= threshold, as a {0, 1} float grid [B, 1, R, R, R]), so
its accuracy on generated samples measures shape, whatever the colours; colours are measured separately
(evaluation.colour_metrics). It works for RGBA and mask-only models alike. Trained by
training.classifier_trainer (`python -m diffusion_core train-classifier`); checkpoints are safetensors
weights with a JSON config, class names and held-out accuracy in the metadata.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD

from ..data.shapes import CLASS_NAMES
from .checkpoint import load_checkpoint


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture: three conv stages (width, 2 width, 4 width channels), each followed by 2x max pooling,
    then global mean + max pooling and a linear layer."""

    resolution: int = 16
    num_classes: int = len(CLASS_NAMES)
    width: int = 16


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1), nn.GroupNorm(4, c_out), nn.SiLU())


class VoxelClassifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.stages = nn.ModuleList([_stage(1, w), _stage(w, 2 * w), _stage(2 * w, 4 * w)])
        self.head = nn.Linear(8 * w, cfg.num_classes)

    def forward(self, occupancy: Tensor) -> Tensor:
        """occupancy float [B, 1, R, R, R] in {0, 1} -> logits [B, num_classes]."""
        h = occupancy
        for stage in self.stages:
            h = F.max_pool3d(stage(h), 2)
        pooled = torch.cat([h.mean(dim=(2, 3, 4)), h.amax(dim=(2, 3, 4))], dim=1)
        return self.head(pooled)

    @torch.inference_mode()
    def predict(self, voxels: np.ndarray, threshold: float = DEFAULT_ALPHA_THRESHOLD, batch_size: int = 256) -> np.ndarray:
        """voxels float [N, C, R, R, R] in [0, 1] (alpha last) -> predicted class indices int64 [N]."""
        self.eval()
        occupancy = torch.from_numpy(np.ascontiguousarray(voxels[:, -1:] >= threshold)).float()
        return torch.cat([self(chunk).argmax(1) for chunk in occupancy.split(batch_size)]).numpy()


def load_classifier(path: str | os.PathLike) -> tuple[VoxelClassifier, list[str], dict]:
    """-> (model in eval mode, class names, extra metadata incl. 'heldout_accuracy')."""
    ckpt = load_checkpoint(path)
    if "classifier" not in ckpt.config:
        raise ValueError(f"{path} is not a classifier checkpoint (train one with `python -m diffusion_core train-classifier`)")
    model = VoxelClassifier(ClassifierConfig(**ckpt.config["classifier"]))
    model.load_state_dict(ckpt.model_state)
    return model.eval(), ckpt.class_names, ckpt.extra
