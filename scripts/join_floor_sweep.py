"""How joining broken pieces changes connectivity and occupancy, per path floor, against hysteresis.

    .venv/bin/python scripts/join_floor_sweep.py [--n 32] [--seed 300000] [--classes table,chair,stool,lamp,arch]
        [--floors 0.5,0.3,0.2,0.1] [--spacing logsnr]

Samples the bundled model at the default settings (pieces as sampled), then per class prints the share of
objects in one 6-connected piece at alpha 0.9 and the occupied voxels against the data's (synthetic seed
9005), as sampled, joined at each floor (diffusion_core.joining, specks kept), as the server does (joined at
the default floor, specks removed), and with hysteresis (every voxel of alpha >= w connected to the object
kept). README "Thin parts" was measured with the defaults; --spacing spreads the steps as `eval --spacing` does
(README "Steps spread evenly in log-SNR (tried)").
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD, SPACINGS
from class_samples import data_occupancy, sample_class, sampling_parser
from diffusion_core.evaluation.metrics import single_component
from diffusion_core.joining import join_parts
from diffusion_core.pipeline import VoxelGenerator

FACES = ndimage.generate_binary_structure(3, 1)


def hysteresis(alpha: np.ndarray, threshold: float, weak: float) -> np.ndarray:
    """alpha [X, Y, Z] -> the voxels of alpha >= weak in a piece that has a voxel of alpha >= threshold."""
    pieces, _ = ndimage.label(alpha >= weak, FACES)
    strong = np.unique(pieces[alpha >= threshold])
    return np.isin(pieces, strong[strong > 0])


def row(occupancies: np.ndarray, data_mean: float) -> str:
    """bool [N, R, R, R] -> "share in one piece (occupied voxels / the data's)", as `eval` counts pieces."""
    return f"{single_component(occupancies).mean():5.0%} ({occupancies.sum((1, 2, 3)).mean() / data_mean:.3f})"


def main() -> None:
    p = sampling_parser(__doc__.split("\n\n")[0], n=32, classes="table,chair,stool,lamp,arch")
    p.add_argument("--floors", default="0.5,0.3,0.2,0.1", help="path floors to join at")
    p.add_argument("--spacing", choices=SPACINGS, default="trailing", help="how the steps spread over the timeline")
    args = p.parse_args()
    floors = [float(v) for v in args.floors.split(",")]
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    gen.spacing = args.spacing
    t = DEFAULT_ALPHA_THRESHOLD
    data_means = data_occupancy(gen, t)
    print("class      as sampled    " + "  ".join(f"join {f:<8}" for f in floors) + "  server        hysteresis 0.5")
    for name in args.classes.split(","):
        k = gen.class_names.index(name)
        voxels, data_mean = sample_class(gen, k, args.n, args.seed), float(data_means[k])
        cells = [row(voxels[:, -1] >= t, data_mean)]
        cells += [row(join_parts(voxels, t, floor=f, speck_voxels=0)[:, -1] >= t, data_mean) for f in floors]
        cells.append(row(join_parts(voxels, t)[:, -1] >= t, data_mean))
        cells.append(row(np.stack([hysteresis(a, t, 0.5) for a in voxels[:, -1]]), data_mean))
        print(f"{name:10} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
