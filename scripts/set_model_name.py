"""Set the name a model file is served under (`info`, the panel's Model list, API `model=`), keeping its weights.

    .venv/bin/python scripts/set_model_name.py models/detailed_32.safetensors latent_32_f4

A model is named after its training run; a file that replaces a bundled one keeps the bundled name, so scripts
that pick it by name go on working. The file is rewritten atomically, in the dtype its weights have.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from diffusion_core.models.checkpoint import export_inference_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("name")
    args = parser.parse_args()
    export_inference_checkpoint(args.model, args.model, dtype=None, model_name=args.name)
    print(f"{args.model}: served as {args.name!r}")


if __name__ == "__main__":
    main()
