"""Set fields of a model file that are not weights, keeping its weights as they are.

    .venv/bin/python scripts/set_model_fields.py models/detailed_32.safetensors --clip-x0 4 --name latent_32_f4

--clip-x0 B: its sampling clip, diffusion.clip_x0 (README "Training"). With the training run, `train --out RUN
--resume --diffusion.clip_x0 B` does the same to the checkpoint and the export. Choose B by measurement
(`eval --clip-x0 B` on tuning seeds).
--reencode K: a latent model's decode-encode round trips before the last decode (README "Re-encoding the sampled
latents"; 0: none). Choose K by measurement (`eval --reencode K`).
--name N: the name it is served under (`info`, the panel's Model list, API `model=`). A model is named after
its training run; a file that replaces a bundled one keeps the bundled name, so scripts that pick it by name
go on working.
The file is rewritten atomically, in the dtype its weights have.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from diffusion_core.models.checkpoint import export_inference_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--clip-x0", type=float, help="the sampling clip of x0 (latent units for a latent model)")
    parser.add_argument("--reencode", type=int, help="a latent model's round trips before the last decode")
    parser.add_argument("--name", help="the name the model is served under")
    args = parser.parse_args()
    if args.clip_x0 is None and args.reencode is None and args.name is None:
        parser.error("give --clip-x0, --reencode, --name or several")
    export_inference_checkpoint(args.model, args.model, dtype=None, clip_x0=args.clip_x0, model_name=args.name,
                                reencode=args.reencode)
    if args.clip_x0 is not None:
        print(f"{args.model}: diffusion.clip_x0 = {args.clip_x0}")
    if args.reencode is not None:
        print(f"{args.model}: reencode = {args.reencode}")
    if args.name is not None:
        print(f"{args.model}: served as {args.name!r}")


if __name__ == "__main__":
    main()
