"""A VAE's reconstructions of held-out shapes, scored like samples: shape and colour against the data.

    .venv/bin/python scripts/vae_report.py runs/vae_32_f4 [--n 256]
    .venv/bin/python scripts/vae_report.py models/detailed_32.safetensors --n 768 --per-class

SOURCE is a VAE run directory (its held-out set: data seed + vae_train.HELDOUT_SEED_OFFSET, never trained on), a
VAE run checkpoint, or a latent model that embeds a VAE (then --seed's synthetic shapes, 9005 by default, which no
run trains on). Reconstructs them through the posterior mean and prints occupancy IoU at alpha 0.5, the fraction
of single 6-connected components at the sampling threshold (settings.DEFAULT_ALPHA_THRESHOLD), and the colour
statistics of diffusion_core.colour_metrics for the data and the reconstructions side by side (mean value,
flatness, regions, objects' mean-hue histogram distance). --per-class adds, per class at the sampling threshold,
the reconstructions' occupied voxels against the data's, their IoU and their share in one piece as decoded and
joined (diffusion_core.joining): where the decoder alone makes objects thin or broken.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from diffusion_core.data.dataset import VoxelDataset, make_synthetic_dataset
from diffusion_core.joining import join_parts
from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.models.latent import LatentCodec
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


def load(source: Path, n: int, seed: int) -> tuple[VoxelVAE, VoxelDataset, str]:
    """The VAE of `source` (see the module docstring), the held-out shapes to reconstruct, and a title."""
    path = source / CHECKPOINT_NAME if source.is_dir() else source
    ckpt = load_checkpoint(path)
    if "unet" not in ckpt.config:  # a VAE run (LatentCodec needs a finished one: its latent normalisation)
        cfg = VAETrainConfig.from_dict(ckpt.config["train"])
        vae = VoxelVAE(cfg.model)
        vae.load_state_dict(ckpt.model_state)
        data = heldout_set(replace(cfg, heldout_samples=n)) if source.is_dir() else None
    else:  # a latent model embedding its VAE
        vae, data = LatentCodec.from_checkpoint(ckpt).vae, None
    if data is None:
        data = make_synthetic_dataset(n, resolution=int(ckpt.config["data"]["resolution"]), seed=seed)
    return vae.eval(), data, f"{source} step {ckpt.step}"


def per_class(data: VoxelDataset, recon: np.ndarray) -> None:
    """Per class at the sampling threshold: occupied voxels / the data's, IoU, one piece as decoded / joined."""
    t = DEFAULT_ALPHA_THRESHOLD
    joined = join_parts(recon, t)[:, -1] >= t
    occ_d, occ_r = data.voxels[:, -1] >= t, recon[:, -1] >= t
    print(f"  {'class':10s} {'occupied/data':>13s} {'IoU':>6s} {'one piece':>9s} {'joined':>7s}")
    for k, name in enumerate(data.class_names):
        m = data.labels == k
        inter, union = (occ_d[m] & occ_r[m]).sum(), (occ_d[m] | occ_r[m]).sum()
        print(f"  {name:10s} {occ_r[m].sum() / occ_d[m].sum():13.3f} {inter / union:6.3f} "
              f"{single_component(occ_r[m]).mean():9.3f} {single_component(joined[m]).mean():7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="VAE run directory or checkpoint, or a latent model")
    parser.add_argument("--n", type=int, default=256, help="held-out shapes")
    parser.add_argument("--seed", type=int, default=9005, help="data seed of the shapes for a checkpoint file")
    parser.add_argument("--per-class", action="store_true", help="also the per-class table at the threshold")
    args = parser.parse_args()
    vae, data, title = load(args.source, args.n, args.seed)
    recon = reconstruct(vae, data.voxels)
    occ_d, occ_r = data.voxels[:, -1] >= 0.5, recon[:, -1] >= 0.5
    iou = (occ_d & occ_r).sum((1, 2, 3)) / np.maximum((occ_d | occ_r).sum((1, 2, 3)), 1)
    print(f"{title}: {args.n} held-out {data.resolution}^3 shapes")
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
    if args.per_class:
        per_class(data, recon)


if __name__ == "__main__":
    main()
