"""How the number and spacing of the sampling steps change object size: a diagnosis (README "Why solid objects
come out large"), not a setting.

    .venv/bin/python scripts/spacing_diagnosis.py sizes --setting dpmpp_2m_sde:15:1 dpmpp_2m_sde:30:1 ddpm:25:1
    .venv/bin/python scripts/spacing_diagnosis.py eval --power 0.5 -- --checkpoint models/default_16.safetensors \
        --classifier models/classifier_16.safetensors --n-per-class 32 --seed 300000 --out /tmp/p05
    .venv/bin/python scripts/spacing_diagnosis.py eval --first 999 -- ...   # where sampling started before

Both space the sampler's timesteps as (F + 1) * ((k + 1) / steps) ** power - 1, k = 0..steps-1, from the first
(noisiest) timestep F (--first; default: the sampler's own, `samplers.sampling_start`; power 1 is the sampler's own
"trailing" spacing, left unpatched; below 1 more steps fall at high noise), by replacing
`samplers.sampling_timesteps` and `samplers.sampling_start` in this process only. `sizes`: the mean occupied voxels (alpha >= 0.9, pieces as
sampled) of --n samples per class (seeds from --seed) for each SAMPLER:STEPS:POWER setting, beside the data's
(synthetic seed 2, the eval reference). `eval`: `python -m diffusion_core eval` with the arguments after `--`,
at --power and --first.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.diffusion import samplers
from diffusion_core.evaluation.cli import main as eval_main
from diffusion_core.pipeline import VoxelGenerator

DEFAULT_TIMESTEPS = samplers.sampling_timesteps
DEFAULT_START = samplers.sampling_start


def power_spacing(power: float):
    """A sampling_timesteps replacement: ascending, distinct, ending at `first`."""
    def spaced(diffusion: object, steps: int, first: int, spacing: str) -> list[int]:  # spacing: replaced
        top = first + 1
        out: list[int] = []
        for k in range(steps):
            t = max(0, round(top * ((k + 1) / steps) ** power) - 1)
            out.append(max(t, out[-1] + 1) if out else t)
        return out
    return spaced


def patch(power: float, first: int | None) -> None:
    """Space the sampler's steps at `power` from `first` (None: the sampler's own start) in this process."""
    samplers.sampling_timesteps = DEFAULT_TIMESTEPS if power == 1.0 else power_spacing(power)
    samplers.sampling_start = DEFAULT_START if first is None else (lambda diffusion, steps: max(first, steps - 1))


def sizes(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    classes = args.classes.split(",")
    ref = make_synthetic_dataset(2 * args.n * len(gen.class_names), resolution=gen.resolution, seed=2)
    print(f"{'setting':<24}" + "".join(f"{c:>10}" for c in classes))
    data = [(ref.voxels[ref.labels == gen.class_names.index(c)][:, 3] >= 0.9).sum((1, 2, 3)).mean() for c in classes]
    print(f"{'data (seed 2)':<24}" + "".join(f"{v:>10.0f}" for v in data))
    for setting in args.setting:
        sampler, steps, power = setting.split(":")
        patch(float(power), args.first)
        row = []
        for c in classes:
            label = gen.class_names.index(c)
            voxels = gen.generate([label] * args.n, list(range(args.seed, args.seed + args.n)), steps=int(steps),
                                  sampler=sampler)
            row.append(float((voxels[:, 3] >= 0.9).sum((1, 2, 3)).mean()))
        print(f"{setting:<24}" + "".join(f"{v:>10.0f}" for v in row), flush=True)
    patch(1.0, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sizes")
    p.add_argument("--checkpoint", default="models/default_16.safetensors")
    p.add_argument("--classes", default="cube,cylinder,sphere,stool,stairs")
    p.add_argument("--setting", nargs="+", default=["dpmpp_2m_sde:15:1", "dpmpp_2m_sde:30:1", "ddpm:25:1",
                                                     "dpmpp_2m_sde:15:0.75", "dpmpp_2m_sde:15:0.5"])
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--seed", type=int, default=900000)
    p.add_argument("--threads", type=int, default=1)
    e = sub.add_parser("eval")
    e.add_argument("--power", type=float, default=1.0)
    for q in (p, e):
        q.add_argument("--first", type=int, help="the first (noisiest) timestep (default: the sampler's own)")
    e.add_argument("eval_args", nargs=argparse.REMAINDER, help="after --: python -m diffusion_core eval's flags")
    args = parser.parse_args()
    if args.command == "sizes":
        sizes(args)
    else:
        patch(args.power, args.first)
        sys.exit(eval_main([a for a in args.eval_args if a != "--"]))


if __name__ == "__main__":
    main()
