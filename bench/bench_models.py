"""One object's latency per model, side by side (issue 11: the 32^3 model beside the 16^3 default).

    .venv/bin/python bench/bench_models.py --checkpoint models/default_16.safetensors \\
        --checkpoint models/detailed_32.safetensors

At the default settings (blender_addon.shared.settings) and the default precision: after a warm-up, the minimum over --repeats of
one object's wall time at 1 and 2 threads, and the time per object in a batch of --batch; the last column is each
model's 2-thread time over the first model's. Timing does not depend on how far a model has been trained.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_sampling import best_seconds  # noqa: E402  (bench/ is on sys.path when run as a script)
from blender_addon.shared.settings import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS  # noqa: E402
from diffusion_core.pipeline import VoxelGenerator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    print(f"default settings: {DEFAULT_STEPS} {DEFAULT_SAMPLER} steps, guidance {DEFAULT_GUIDANCE}")
    print(f"{'model':<28} {'grid':>6} {'1 thread ms':>12} {'2 threads ms':>13} {'per object @' + str(args.batch):>16} "
          f"{'vs first':>9}")
    first = None
    for path in args.checkpoint:
        gen = VoxelGenerator.from_checkpoint(path)
        row = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            row.append(best_seconds(lambda: gen.generate([0], [1]), args.repeats))
        labels = [i % len(gen.class_names) for i in range(args.batch)]
        per_object = best_seconds(lambda: gen.generate(labels, list(range(args.batch))), max(1, args.repeats - 1)) / args.batch
        first = first or row[1]
        print(f"{Path(path).name:<28} {str(gen.resolution) + '^3':>6} {row[0] * 1e3:>12.0f} {row[1] * 1e3:>13.0f} "
              f"{per_object * 1e3:>16.0f} {row[1] / first:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
