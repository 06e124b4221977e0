"""Each class's size in an `eval` report against the mean occupied voxels of many held-out shapes of seed 9005.

    .venv/bin/python scripts/size_vs_data.py docs/eval/seed_1200000_128 [--per-class 1024]

`eval` itself now divides the samples' mean by the mean of --size-shapes (1,024) data shapes per class of its
reference seed; this re-reads a report (also one made before that, whose size bar divided by the reference set's
N-shape mean, 5-10% off for classes of wide size spread) against --per-class shapes of synthetic seed
class_samples.DATA_SEED, the seed of the README's earlier size tables. Per class: that mean, the report's data mean,
the samples' mean, samples / data and report's data / data. README "Which classes are the wrong size".
"""
from __future__ import annotations

import argparse
from pathlib import Path

from class_samples import DATA_SEED
from compare_reports import load_report
from diffusion_core.evaluation.evaluate import data_mean_occupied
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
    print(f"{'class':<10} {'data':>8} {'report data':>12} {'samples':>8} {'samples/data':>13} {'report/data':>12}")
    for name in samples:
        mean = data_mean_occupied(name, resolution, args.per_class, DATA_SEED, threshold)
        ref, got = reference[name]["occupied"], samples[name]["occupied"]
        print(f"{name:<10} {mean:8.1f} {ref:12.1f} {got:8.1f} {got / mean:13.3f} {ref / mean:12.3f}")


if __name__ == "__main__":
    main()
