"""How the alpha threshold changes each class's size: occupied voxels against the data's, and one-piece share.

    .venv/bin/python scripts/threshold_sizes.py [--checkpoint models/default_16.safetensors] [--n 32]
        [--seed 300000] [--thresholds 0.5,0.7,0.9,0.98]

Samples every class at the default settings, joins each object's pieces at each threshold as the server does
(diffusion_core.joining), and prints per class "occupied voxels / the data's (synthetic seed 9005, alpha >= 0.5),
share in one 6-connected piece" per threshold. README "Colour fidelity" kept 0.9 with it.
"""
from __future__ import annotations

import argparse

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.metrics import single_component
from diffusion_core.joining import join_parts
from diffusion_core.pipeline import VoxelGenerator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="models/default_16.safetensors")
    p.add_argument("--n", type=int, default=32, help="samples per class")
    p.add_argument("--seed", type=int, default=300000, help="class k, sample i gets seed + 1000 k + i")
    p.add_argument("--thresholds", default="0.5,0.7,0.9,0.98")
    args = p.parse_args()
    thresholds = [float(v) for v in args.thresholds.split(",")]
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    data = make_synthetic_dataset(64 * len(gen.class_names), resolution=gen.resolution, seed=9005)
    print("class      " + "  ".join(f"{t:<11g}" for t in thresholds))
    for k, name in enumerate(gen.class_names):
        voxels = gen.generate([k] * args.n, [args.seed + 1000 * k + i for i in range(args.n)])
        data_mean = float((data.grids[data.labels == k][:, -1] >= 0.5).sum((1, 2, 3)).mean())
        cells = []
        for t in thresholds:
            occupied = join_parts(voxels, t)[:, -1] >= t
            cells.append(f"{occupied.sum((1, 2, 3)).mean() / data_mean:.2f} {single_component(occupied).mean():4.0%}")
        print(f"{name:10} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
