"""A denoiser's loss on held-out shapes per noise level: how far a run has got, without sampling.

    .venv/bin/python scripts/heldout_loss.py models/detailed_32.safetensors \
        runs/latent_32_f4_long/model_ema_fp16.safetensors [--n 256] [--seed 9005]

Every checkpoint (one resolution; a latent model through its own VAE) sees the same N held-out synthetic shapes
(data seed --seed, which no run trains on), the same timesteps (--timesteps) and the same noise: the eps-prediction
MSE of its inference (EMA) weights, conditional on the true class, per timestep and averaged. Differences between
the columns are the weights' alone (the sampling noise of eval's 1-NNA, ±0.02 at 32 per class, is absent), so a long
run can be followed between evaluations. Lower is better; the learned-variance half of the output is not scored.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.pipeline import VoxelGenerator

DEFAULT_TIMESTEPS = "50,150,250,350,450,550,650,750,850,950"


@torch.inference_mode()
def heldout_mse(generator: VoxelGenerator, voxels: np.ndarray, labels: np.ndarray, timesteps: list[int],
                seed: int, batch_size: int = 64) -> list[float]:
    """voxels [N, C, R, R, R] in [0, 1], labels int [N] -> the mean eps MSE at each timestep (noise from `seed`)."""
    x0 = torch.cat([generator.encode(voxels[i:i + batch_size]) for i in range(0, len(voxels), batch_size)])
    y = torch.from_numpy(labels).long()
    out = []
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed * 1000 + t))
        tt = torch.full((len(x0),), t, dtype=torch.long)
        x_t = generator.diffusion.q_sample(x0, tt, noise)
        eps = torch.cat([generator.model(x_t[i:i + batch_size], tt[i:i + batch_size], y=y[i:i + batch_size])
                         [:, :x0.shape[1]] for i in range(0, len(x0), batch_size)])
        out.append(float(((eps - noise) ** 2).mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--n", type=int, default=256, help="held-out shapes (balanced over the classes)")
    parser.add_argument("--seed", type=int, default=9005, help="data seed of the held-out shapes")
    parser.add_argument("--timesteps", default=DEFAULT_TIMESTEPS, help="comma-separated training timesteps")
    args = parser.parse_args()
    timesteps = [int(v) for v in args.timesteps.split(",")]
    generators = [VoxelGenerator.from_checkpoint(path) for path in args.checkpoints]
    resolutions = {g.resolution for g in generators}
    if len(resolutions) != 1:
        raise SystemExit(f"the checkpoints must share one resolution, got {sorted(resolutions)}")
    data = make_synthetic_dataset(args.n, resolution=resolutions.pop(), seed=args.seed)
    columns = [heldout_mse(g, data.voxels, data.labels, timesteps, args.seed) for g in generators]
    for k, path in enumerate(args.checkpoints):
        print(f"[{k}] {path}")
    print("t      " + "".join(f"{f'[{k}]':>10}" for k in range(len(columns))))
    for i, t in enumerate(timesteps):
        print(f"{t:<7}" + "".join(f"{c[i]:>10.5f}" for c in columns))
    print("mean   " + "".join(f"{np.mean(c):>10.5f}" for c in columns))


if __name__ == "__main__":
    main()
