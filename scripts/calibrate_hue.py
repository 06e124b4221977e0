"""Measure how a colour model's objects respond to the hue they are given, and calibrate it (README "Colour fidelity").

    .venv/bin/python scripts/calibrate_hue.py models/default_16.safetensors [--repeats 3] [--write] [--spacing logsnr]

Every class is made at 24 given hues spread over the wheel, `--repeats` times (seeds 9200000 + ..., used for
nothing else; default settings, the model's raw response: its calibration switched off), and each object's dominant
hue is measured (models.hue.dominant_hues). Printed: per given hue, the mean signed gap and the median distance
(degrees). The fit (a 3-harmonic Fourier series of the gap, inverted) gives the offsets that ask for the hue which
comes out where wanted; `--write` stores them in the model file (models.hue.calibrated_hues, export_inference_checkpoint),
weights untouched. Check the result with scripts/hue_adherence.py and `eval` on fresh seeds. --spacing measures at
the steps `eval --spacing` takes (README "Steps spread evenly in log-SNR (tried)"; write that to a copy).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from blender_addon.shared.settings import SPACINGS
from diffusion_core.evaluation.hue_response import fit_hue_calibration, mean_response
from diffusion_core.models.checkpoint import export_inference_checkpoint
from diffusion_core.models.hue import circular_gap, dominant_hues
from diffusion_core.pipeline import VoxelGenerator

SEED_BASE = 9_200_000
GIVEN = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="objects per class and given hue")
    parser.add_argument("--write", action="store_true", help="store the fitted offsets in the model file")
    parser.add_argument("--spacing", choices=SPACINGS, default="trailing", help="how the steps spread over the timeline")
    args = parser.parse_args()
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    gen.spacing = args.spacing
    if not gen.hue_conditional:
        raise SystemExit(f"{args.checkpoint} has no colour condition")
    gen.hue_calibration = None
    given = (np.arange(GIVEN) + 0.5) / GIVEN
    rows = []
    jobs = [(c, r) for c in range(len(gen.class_names)) for r in range(args.repeats)]
    for c, r in tqdm(jobs, desc="calibration objects"):
        seeds = [SEED_BASE + (c * args.repeats + r) * GIVEN + i for i in range(GIVEN)]
        rows.append(dominant_hues(gen.generate([c] * GIVEN, seeds, hues=given.tolist())))
    dominant = np.array(rows)
    offsets = fit_hue_calibration(given, dominant)
    print("given°   mean gap°  median |gap|°")
    for h, g, m in zip(given, mean_response(given, dominant), np.nanmedian(circular_gap(dominant, given), axis=0)):
        print(f"{h * 360:6.1f}  {g * 360:+8.1f}  {m * 360:8.1f}")
    print("offsets (turns):", json.dumps([round(v, 5) for v in offsets]))
    if args.write:
        export_inference_checkpoint(args.checkpoint, args.checkpoint, dtype=None, hue_calibration=offsets)
        print(f"{args.checkpoint}: hue_calibration written")


if __name__ == "__main__":
    main()
