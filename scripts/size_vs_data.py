"""Each class's size in an `eval` report against a precise data mean: the mean occupied voxels of many held-out shapes.

    .venv/bin/python scripts/size_vs_data.py docs/eval/seed_1200000_128 [--per-class 1024]

The report's size bar divides the samples' mean occupied voxels by its reference set's, which has as many shapes per
class as there are samples; for classes of wide size spread (cylinders, cones, trees) that mean is itself off by
5-10% at 128 per class. Here the data's mean comes from --per-class shapes of each class (synthetic seed
class_samples.DATA_SEED, alpha-only, one class at a time), and the table gives per class: that mean, the report's
reference mean, the samples' mean, samples / data and reference / data. README "How many steps".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from class_samples import DATA_SEED
from compare_reports import load_report
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.pipeline import VoxelGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="an eval --out folder or its report.json")
    parser.add_argument("--per-class", type=int, default=1024, help="data shapes per class")
    args = parser.parse_args()
    report = load_report(args.report)
    resolution = VoxelGenerator.from_checkpoint(report["checkpoint"]).resolution
    threshold = report["settings"]["alpha_threshold"]
    samples, reference = report["model"]["per_class"], report["reference_colour"]["per_class"]
    print(f"{report['settings']['n_per_class']} samples per class from seed {report['settings']['seed']}; "
          f"data: {args.per_class} per class, seed {DATA_SEED}, {resolution}^3")
    print(f"{'class':<10} {'data':>8} {'reference':>10} {'samples':>8} {'samples/data':>13} {'reference/data':>15}")
    for name in samples:
        data = make_synthetic_dataset(args.per_class, resolution=resolution, seed=DATA_SEED, only_mask=True,
                                      classes=[name])
        mean = float((data.voxels[:, -1] >= threshold).sum((1, 2, 3)).mean())
        ref, got = reference[name]["occupied"], samples[name]["occupied"]
        print(f"{name:<10} {mean:8.1f} {ref:10.1f} {got:8.1f} {got / mean:13.3f} {ref / mean:15.3f}")


if __name__ == "__main__":
    main()
