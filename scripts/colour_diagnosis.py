"""Where the bundled latent model loses colour: real latents decoded after clipping, then sampling per clip.

    .venv/bin/python scripts/colour_diagnosis.py                       # the real-latents table (about 1 min)
    .venv/bin/python scripts/colour_diagnosis.py --sample 2 4 5 6      # plus one `eval` per latent x0 clip
    .venv/bin/python scripts/colour_diagnosis.py --strengths 0.5 0.7 0.85 1   # plus where colour is decided
    .venv/bin/python scripts/colour_diagnosis.py --latent-noise 0.3 0.6       # plus the decoder's hue sensitivity

Part 1 encodes held-out shapes (data seed 9005) with the model's VAE and decodes them unchanged and after
clipping the normalised latents at +-b, printing mean saturation, value and the 12-bin histogram of the
objects' mean hues, then, per bin of the objects' mean hue, how far their latents reach into the tails (mean
of each object's max |z|, and the share of its latent values beyond +-4 and +-6), and with --latent-noise how
far the decoded objects' mean hues move, per bin of their hue, when noise of each sd is added to the latents.
Part 2 runs the evaluation at the default settings with the sampler's latent x0 clip (`eval --clip-x0`) set to
each value, writing out/colour_diagnosis/clip_<b>/report.md. Part 3 asks where along the sampling an object's
colour is decided: it regenerates the held-out shapes from themselves (SDEdit, the block-out edit) at each
strength, at the default settings, and prints how many objects' mean hues moved more than 15° and how washed out
the least saturated objects come out (10th percentile of the objects' median saturation).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from blender_addon.shared.edits import Edit
from diffusion_core.evaluation.colour_metrics import (OBJECT_HUE_BINS, ColourStats, colour_stats, hue_bin_indices,
                                                      object_hue_histogram)
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.evaluate import EvalSettings, evaluate
from diffusion_core.pipeline import VoxelGenerator


def _row(name: str, stats: ColourStats) -> None:
    hist = object_hue_histogram(stats.mean_hue) * len(stats.mean_hue)
    print(f"{name:34s} saturation {stats.hsv[:, 1].mean():.3f} value {stats.hsv[:, 2].mean():.3f} "
          f"mean hues {' '.join(str(int(round(v))) for v in hist)}")


def real_latents(gen: VoxelGenerator, clips: list[float], noise_sds: list[float], n: int = 512) -> None:
    data = make_synthetic_dataset(n, resolution=gen.resolution, seed=9005, classes=gen.class_names)
    z = gen.codec.encode(torch.from_numpy(data.voxels * 2 - 1))
    print(f"normalised latents: {float((z.abs() > 2).float().mean()):.1%} beyond +-2, max |z| {float(z.abs().max()):.1f}")
    data_stats = colour_stats(data.voxels)
    _row("data", data_stats)
    _row("VAE round trip", colour_stats(gen.to_voxels(z)))
    for b in clips:
        _row(f"round trip, latents clipped at +-{b:g}", colour_stats(gen.to_voxels(z.clamp(-b, b))))
    tails_by_hue(z, data_stats.mean_hue)
    if noise_sds:
        hue_sensitivity(gen, z, data_stats.mean_hue, noise_sds)


def _hue_bins(mean_hue: np.ndarray) -> np.ndarray:
    """Objects' mean hues [N] (NaN: none) -> their bin of the objects' hue histogram int [N] (-1 for NaN)."""
    known = ~np.isnan(mean_hue)
    bins = np.full(len(mean_hue), -1)
    bins[known] = hue_bin_indices(mean_hue[known], OBJECT_HUE_BINS, centred=True)
    return bins


def hue_sensitivity(gen: VoxelGenerator, z: torch.Tensor, mean_hue: np.ndarray, sds: list[float]) -> None:
    """Print, per bin of the objects' true mean hue, how far (degrees, mean over objects) their decoded mean hue
    moves when Gaussian noise of each sd is added to their normalised latents z [N, C, r, r, r] (seeded)."""
    bins, base = _hue_bins(mean_hue), colour_stats(gen.to_voxels(z)).mean_hue
    noise = torch.Generator().manual_seed(0)
    print("latent noise sd   decoded objects' mean hue moved (°), per bin of their hue from 0°")
    for sd in sds:
        hue = colour_stats(gen.to_voxels(z + sd * torch.randn(z.shape, generator=noise))).mean_hue
        moved = hue_moved(hue, base) * 360
        print(f"{sd:15g}   " + " ".join(f"{np.nanmean(moved[bins == k]):5.1f}" for k in range(OBJECT_HUE_BINS)))


def tails_by_hue(z: torch.Tensor, mean_hue: np.ndarray) -> None:
    """Print, per bin of the objects' mean hue (the objects' hue histogram's bins, centred on k / OBJECT_HUE_BINS
    of the wheel), the objects' mean max |z| and their shares of latent values beyond +-4 and +-6.
    z [N, C, r, r, r] normalised latents; mean_hue [N] in [0, 1) (NaN: no saturated voxel, left out)."""
    magnitude = z.abs().flatten(1)
    peak = magnitude.amax(1).numpy()
    beyond = {b: (magnitude > b).float().mean(1).numpy() for b in (4, 6)}
    bins = _hue_bins(mean_hue)
    print("objects' mean hue   n   mean max |z|   beyond +-4   beyond +-6")
    for k in range(OBJECT_HUE_BINS):
        pick = bins == k
        if pick.any():
            print(f"{k * 360 / OBJECT_HUE_BINS:15.0f}°  {pick.sum():4d}   {peak[pick].mean():10.2f}   "
                  f"{beyond[4][pick].mean():10.2%}   {beyond[6][pick].mean():10.3%}")


def hue_moved(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hues [N] in [0, 1) -> how far each moved around the wheel, in [0, 0.5] (NaN where either is)."""
    return np.abs(np.mod(a - b + 0.5, 1.0) - 0.5)


def median_saturations(stats: ColourStats) -> np.ndarray:
    """Each object's median voxel saturation float [N] (NaN for an empty object)."""
    return np.array([np.median(s) if len(s) else np.nan
                     for s in np.split(stats.hsv[:, 1], np.cumsum(stats.occupied)[:-1])])


def where_decided(gen: VoxelGenerator, strengths: list[float], n: int = 256, batch: int = 64) -> None:
    """Regenerate n held-out shapes (seed 9005) from themselves at each SDEdit strength (default settings) and
    print the share of objects whose mean hue moved over 15°, the 10th percentile of the objects' median
    saturation and the mean value, against the shapes' own."""
    data = make_synthetic_dataset(n, resolution=gen.resolution, seed=9005, classes=gen.class_names)
    before = colour_stats(data.voxels)
    print("strength   hue moved > 15°   saturation q10   value")
    print(f"{'data':8s}   {'':15s}   {np.nanpercentile(median_saturations(before), 10):14.2f}   "
          f"{before.hsv[:, 2].mean():.3f}")
    for strength in strengths:
        out = np.concatenate([gen.generate(data.labels[i:i + batch].tolist(), list(range(i, i + batch)),
                                           edit=Edit(init=data.voxels[i:i + batch], strength=strength))
                              for i in range(0, n, batch)])
        after = colour_stats(out)
        moved = hue_moved(after.mean_hue, before.mean_hue) > 15 / 360
        print(f"{strength:8.2f}   {np.mean(moved):15.0%}   {np.nanpercentile(median_saturations(after), 10):14.2f}"
              f"   {after.hsv[:, 2].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=float, nargs="+", default=[2, 3, 4])
    parser.add_argument("--sample", type=float, nargs="*", default=[], help="latent x0 clips to evaluate")
    parser.add_argument("--seed", type=int, default=300000)
    parser.add_argument("--model", default="models/default_16.safetensors")
    parser.add_argument("--classifier", default="models/classifier_16.safetensors")
    parser.add_argument("--n-per-class", type=int, default=16)
    parser.add_argument("--out", default="out/colour_diagnosis")
    parser.add_argument("--latent-noise", type=float, nargs="*", default=[],
                        help="noise sds to add to the held-out shapes' latents before decoding")
    parser.add_argument("--strengths", type=float, nargs="*", default=[],
                        help="SDEdit strengths at which to regenerate held-out shapes from themselves")
    args = parser.parse_args()
    gen = VoxelGenerator.from_checkpoint(args.model)
    real_latents(gen, args.clips, args.latent_noise)
    if args.strengths:
        where_decided(gen, args.strengths)
    for b in args.sample:
        settings = EvalSettings(seed=args.seed, n_per_class=args.n_per_class, clip_x0=b)
        report = evaluate(args.model, args.classifier, f"{args.out}/clip_{b:g}", settings, progress=False)
        print(f"clip {b:g}: " + json.dumps({bar["bar"]: round(bar["model"], 3) for bar in report["bars"]}))


if __name__ == "__main__":
    main()
