"""Set a model file's sampling clip, diffusion.clip_x0 (README "Training"), keeping its weights as they are.

    .venv/bin/python scripts/set_clip_x0.py models/detailed_32.safetensors 4

For a model without its training run (a bundled file); with the run, `train --out RUN --resume
--diffusion.clip_x0 B` does the same to the checkpoint and the export. Choose B by measurement
(`eval --clip-x0 B` on tuning seeds). The file is rewritten atomically, in the dtype its weights have.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from diffusion_core.models.checkpoint import export_inference_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("clip_x0", type=float)
    args = parser.parse_args()
    export_inference_checkpoint(args.model, args.model, dtype=None, clip_x0=args.clip_x0)
    print(f"{args.model}: diffusion.clip_x0 = {args.clip_x0}")


if __name__ == "__main__":
    main()
