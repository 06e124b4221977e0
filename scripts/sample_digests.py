"""SHA-256 digests of the bundled models' samples for fixed seeds: proof that a refactor changed no sample.

`--write FILE` records the digests; `--check FILE` recomputes them and exits 1 on any difference. One digest
per (model, class): the voxels of seeds 0-1 at the default settings in float32 with the default oneDNN Graph path
(VOXD_GRAPH=off gives the eager digests, which differ by float rounding; bf16 results depend on the
CPU), 1 thread (deterministic here).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from blender_addon.shared.settings import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS
from diffusion_core.pipeline import VoxelGenerator

MODELS = ("models/default_16.safetensors", "models/experiments/latent4_16.safetensors")


def digests() -> dict[str, str]:
    torch.set_num_threads(1)
    out = {}
    for path in MODELS:
        gen = VoxelGenerator.from_checkpoint(path, precision="fp32")
        for k, name in enumerate(gen.class_names):
            voxels = gen.generate([k, k], [0, 1], steps=DEFAULT_STEPS, sampler=DEFAULT_SAMPLER,
                                  guidance=DEFAULT_GUIDANCE)
            out[f"{Path(path).name}/{name}"] = hashlib.sha256(voxels.astype("float32").tobytes()).hexdigest()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args()
    now = digests()
    if args.write:
        args.write.write_text(json.dumps(now, indent=1) + "\n")
        return 0
    before = json.loads(args.check.read_text())
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    print(f"{len(now) - len(changed)}/{len(now)} digests unchanged" + (f"; changed: {changed}" if changed else ""))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
