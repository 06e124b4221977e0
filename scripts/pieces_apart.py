"""What stays broken after joining: per object, each piece apart from the largest, its size and its gap.

    .venv/bin/python scripts/pieces_apart.py [--checkpoint models/default_16.safetensors] [--n 128]
        [--seed 300000] [--classes stool,lamp,mug]

Samples the model at the default settings, joins each object's pieces along its confident voxels without removing
specks (diffusion_core.joining, speck_voxels=0), and prints for every object still in more than one piece at
alpha 0.9: each smaller piece's voxels (and share of the object), the voxels a bridge to the largest piece needs
(the shortest gap) and the least alpha on the most confident such bridge. README "Thin parts" picked the speck
size (JOIN_SPECK_VOXELS_16) with it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD
from class_samples import class_seeds, sampling_parser
from diffusion_core.joining import join_parts, joining_path, speck_size
from diffusion_core.pipeline import VoxelGenerator

FACES = ndimage.generate_binary_structure(3, 1)


def pieces_apart(alpha: np.ndarray, threshold: float) -> list[str]:
    """alpha [X, Y, Z] -> one description per piece of `alpha >= threshold` other than the largest."""
    pieces, count = ndimage.label(alpha >= threshold, FACES)
    sizes = np.bincount(pieces.ravel())[1:]
    largest = 1 + int(np.argmax(sizes))
    distance = ndimage.distance_transform_cdt(pieces != largest, metric="taxicab")
    out = []
    for piece in range(1, count + 1):
        if piece == largest:
            continue
        two = (pieces == largest) | (pieces == piece)  # the bridge between these two only, through any alpha
        bridge = joining_path(np.where(two, 1.0, np.minimum(alpha, threshold - 1e-3)), threshold, floor=0.0)
        out.append(f"{sizes[piece - 1]} voxels ({sizes[piece - 1] / sizes.sum():.1%}), gap "
                   f"{int(distance[pieces == piece].min()) - 1}, least alpha on the bridge {alpha[bridge].min():.2f}")
    return out


def main() -> None:
    p = sampling_parser(__doc__.split("\n\n")[0], n=128, classes="stool,lamp,mug")
    args = p.parse_args()
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    t = DEFAULT_ALPHA_THRESHOLD
    print(f"speck size at {gen.resolution}^3: {speck_size(gen.resolution)} voxels")
    for name in args.classes.split(","):
        k = gen.class_names.index(name)
        seeds = class_seeds(args.seed, k, args.n)
        joined = join_parts(gen.generate([k] * args.n, seeds), t, speck_voxels=0)
        broken = [(s, pieces_apart(v[-1], t)) for s, v in zip(seeds, joined) if ndimage.label(v[-1] >= t, FACES)[1] > 1]
        print(f"{name}: {len(broken)} of {args.n} apart after joining", flush=True)
        for seed, lines in broken:
            print(f"  seed {seed}: " + "; ".join(lines), flush=True)


if __name__ == "__main__":
    main()
