"""Every config the repo ships parses into its dataclass (a typo in a field fails here, not hours into a run).

A latent config whose VAE is a training run (runs/..., absent from a clone) is parsed without it: its fields are
checked, not the UNet it would derive from that VAE."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffusion_core.training.config import TrainConfig
from diffusion_core.training.vae_trainer import VAETrainConfig

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.json"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_shipped_config_parses(path: Path) -> None:
    raw = json.loads(path.read_text())
    vae = raw["data"].get("vae_checkpoint")
    if vae is not None and not (REPO / vae).exists():
        assert vae.startswith("runs/"), f"{path.name} needs {vae}, which is neither bundled nor a run"
        raw = {**raw, "data": {**raw["data"], "vae_checkpoint": None}}
    cfg = (VAETrainConfig if path.stem.startswith("vae_") else TrainConfig).from_dict(raw)
    assert cfg.to_dict()["data"]["resolution"] == raw["data"]["resolution"]


def test_the_gpu_configs_train_the_bundled_models_on_their_own_vaes() -> None:
    for name, model in (("latent_32_f4_gpu", "models/detailed_32.safetensors"),
                        ("latent_16_f2_gpu", "models/default_16.safetensors")):
        cfg = TrainConfig.from_dict(json.loads((REPO / "configs" / f"{name}.json").read_text()))
        assert cfg.init_from == cfg.data.vae_checkpoint == model and cfg.device == "cuda" and cfg.bf16
