"""A VAE run's reconstructions of held-out shapes, scored like samples: shape and colour against the data.

    .venv/bin/python scripts/vae_report.py runs/vae_32_f4 [--n 256]

Reconstructs the run's held-out set (data seed + vae_train.HELDOUT_SEED_OFFSET, never trained on) through
the posterior mean and prints occupancy IoU at alpha 0.5, the fraction of single 6-connected components at
the sampling threshold (settings.DEFAULT_ALPHA_THRESHOLD), and the colour statistics of diffusion_core.colour_metrics for the data and
the reconstructions side by side (mean value, flatness, regions, objects' mean-hue histogram distance).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.evaluation.colour_metrics import colour_stats, nan_mean, object_hue_histogram, total_variation
from diffusion_core.evaluation.metrics import single_component
from diffusion_core.models.vae import VoxelVAE, logits_to_model_space
from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD
from diffusion_core.training.loop import CHECKPOINT_NAME
from diffusion_core.training.vae_trainer import VAETrainConfig, heldout_set


@torch.no_grad()
def reconstruct(vae: VoxelVAE, voxels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """voxels [N, C, R, R, R] in [0, 1] -> reconstructions, same shape, through the posterior mean."""
    out = [(logits_to_model_space(vae.decode_logits(vae.encode(torch.from_numpy(voxels[i:i + batch_size] * 2 - 1))[0]))
            + 1) / 2 for i in range(0, len(voxels), batch_size)]
    return torch.cat(out).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=256, help="held-out shapes")
    args = parser.parse_args()
    ckpt = load_checkpoint(args.run / CHECKPOINT_NAME)
    cfg = VAETrainConfig.from_dict(ckpt.config["train"])
    vae = VoxelVAE(cfg.model)
    vae.load_state_dict(ckpt.model_state)
    vae.eval()
    data = heldout_set(replace(cfg, heldout_samples=args.n))
    recon = reconstruct(vae, data.voxels)
    occ_d, occ_r = data.voxels[:, -1] >= 0.5, recon[:, -1] >= 0.5
    iou = (occ_d & occ_r).sum((1, 2, 3)) / np.maximum((occ_d | occ_r).sum((1, 2, 3)), 1)
    print(f"{args.run} step {ckpt.step}: {args.n} held-out {data.resolution}^3 shapes")
    print(f"  occupancy IoU {iou.mean():.4f}; one component at 0.9: "
          f"data {single_component(data.voxels[:, -1] >= DEFAULT_ALPHA_THRESHOLD).mean():.3f}, "
          f"reconstructions {single_component(recon[:, -1] >= DEFAULT_ALPHA_THRESHOLD).mean():.3f}")
    if data.channels == 4:
        s_d, s_r = colour_stats(data.voxels), colour_stats(recon)
        for name, s in (("data", s_d), ("reconstructions", s_r)):
            print(f"  {name:16s} occupied {s.occupied.mean():7.1f}  saturation {s.hsv[:, 1].mean():.3f}  "
                  f"value {s.hsv[:, 2].mean():.3f}  flatness {nan_mean(s.flatness):.3f}  "
                  f"regions {s.regions.mean():.2f} (all {s.regions_all.mean():.2f})")
        tv = total_variation(object_hue_histogram(s_d.mean_hue), object_hue_histogram(s_r.mean_hue))
        print(f"  objects' mean-hue histogram TV, reconstructions vs data: {tv:.3f}")


if __name__ == "__main__":
    main()
