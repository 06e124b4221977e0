"""A tiny untrained 8^3 checkpoint and a tiny 8^3 classifier, built once per session."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffusion_core.training.classifier_trainer import ClassifierTrainConfig, train_classifier
from tests.tiny_models import save_tiny_checkpoint

CLASSES = ["cube", "table", "tree"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "tiny.safetensors"
    save_tiny_checkpoint(path, CLASSES, num_timesteps=40, attention_resolutions=(4,), perturb=True, data={"seed": 0})
    return path


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "classifier_8.safetensors"
    cfg = ClassifierTrainConfig(resolution=8, width=4, train_samples=32, heldout_samples=16, epochs=1, batch_size=16)
    train_classifier(cfg, path, progress=False)
    return path
