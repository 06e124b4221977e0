"""How closely a hue-conditional model's objects take the hue they are asked for, beside the data's own objects.

    .venv/bin/python scripts/hue_adherence.py runs/latent_16_f2_hue/model_ema_fp16.safetensors [--n-per-class 12] \
        [--png docs/images/hue_16_asked.png --png-classes chair lamp house tree]

Per class, n objects are asked for at hues spread evenly over the wheel (seeds 9100000 + i, default settings);
each object's dominant hue (models.hue.dominant_hues: the circular mean of its saturated voxels' hues within 30° of
their histogram's peak, so an accent part does not pull it; asked through the model's hue calibration, if it has
one) is compared with the asked hue. The data row does the same for held-out shapes
(data seed 9005) against the main hue they were drawn with. Printed per class: the median distance (degrees) and
the share of objects within 15°; then all classes together. --png renders the objects of --png-classes, a row per
class, a column per asked hue.
"""
from __future__ import annotations

import argparse

import numpy as np

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.render import render_voxel_grid_png
from diffusion_core.models.hue import circular_gap, dominant_hues
from diffusion_core.pipeline import VoxelGenerator

SEED_BASE = 9_100_000


def row(name: str, gaps: np.ndarray) -> str:
    degrees = gaps * 360
    return f"{name:10s} median {np.nanmedian(degrees):5.1f}°  within 15°: {np.nanmean(degrees <= 15):6.1%}  (n {len(gaps)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--n-per-class", type=int, default=12)
    parser.add_argument("--png", help="render the objects of --png-classes here")
    parser.add_argument("--png-classes", nargs="+", default=["chair", "lamp", "house", "tree"])
    args = parser.parse_args()
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    if not gen.hue_conditional:
        raise SystemExit(f"{args.checkpoint} has no colour condition")
    n, k = args.n_per_class, len(gen.class_names)
    asked = (np.arange(n) + 0.5) / n
    data = make_synthetic_dataset(n * k, resolution=gen.resolution, seed=9005, classes=gen.class_names)
    data_gap = circular_gap(dominant_hues(data.voxels), data.hues)
    all_gaps, shown, titles = [], [], []
    for c, name in enumerate(gen.class_names):
        seeds = [SEED_BASE + c * n + i for i in range(n)]
        voxels = gen.generate([c] * n, seeds, hues=asked.tolist())
        gaps = circular_gap(dominant_hues(voxels), asked)
        all_gaps.append(gaps)
        print(row(name, gaps), " | data:", row("", data_gap[data.labels == c]).strip())
        if name in args.png_classes:
            shown.append(voxels)
            titles += [f"{name}, asked {h * 360:.0f}°" for h in asked]
    print(row("all", np.concatenate(all_gaps)), " | data:", row("", data_gap).strip())
    if args.png and shown:
        print("wrote", render_voxel_grid_png(np.concatenate(shown), args.png, titles, DEFAULT_ALPHA_THRESHOLD, ncols=n))


if __name__ == "__main__":
    main()
