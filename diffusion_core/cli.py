"""`python -m diffusion_core <command> [args]`: training and evaluation (also under torchrun)."""
from __future__ import annotations

from collections.abc import Sequence

from blender_addon.shared.commands import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("diffusion_core.training.diffusion_trainer",
              "train a diffusion model (pixel space, or latent with data.vae_checkpoint)"),
    "train-vae": ("diffusion_core.training.vae_trainer", "train the voxel VAE that latent diffusion models use"),
    "train-classifier": ("diffusion_core.training.classifier_trainer", "train the shape classifier that eval uses"),
    "eval": ("diffusion_core.evaluation.cli", "score samples vs held-out references (report, gallery, --sweep)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch("python -m diffusion_core", COMMANDS, argv)
