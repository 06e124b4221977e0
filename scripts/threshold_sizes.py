"""How the alpha threshold changes each class's size: occupied voxels against the data's, and one-piece share.

    .venv/bin/python scripts/threshold_sizes.py [--checkpoint models/default_16.safetensors] [--n 32]
        [--seed 300000] [--thresholds 0.5,0.7,0.9,0.98]

Samples every class at the default settings, joins each object's pieces at each threshold as the server does
(diffusion_core.joining), and prints per class "occupied voxels / the data's (synthetic seed 9005, alpha >= 0.5),
share in one 6-connected piece" per threshold. README "Colour fidelity" kept 0.9 with it.
"""
from __future__ import annotations

from class_samples import data_occupancy, sample_class, sampling_parser
from diffusion_core.evaluation.metrics import single_component
from diffusion_core.joining import join_parts
from diffusion_core.pipeline import VoxelGenerator


def main() -> None:
    p = sampling_parser(__doc__.split("\n\n")[0], n=32)
    p.add_argument("--thresholds", default="0.5,0.7,0.9,0.98")
    args = p.parse_args()
    thresholds = [float(v) for v in args.thresholds.split(",")]
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    data_mean = data_occupancy(gen, 0.5)
    print("class      " + "  ".join(f"{t:<11g}" for t in thresholds))
    for k, name in enumerate(gen.class_names):
        voxels = sample_class(gen, k, args.n, args.seed)
        cells = []
        for t in thresholds:
            occupied = join_parts(voxels, t)[:, -1] >= t
            cells.append(f"{occupied.sum((1, 2, 3)).mean() / data_mean[k]:.2f} {single_component(occupied).mean():4.0%}")
        print(f"{name:10} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
