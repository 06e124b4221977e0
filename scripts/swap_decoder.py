"""Put a decoder trained alone into a latent model's file (the denoiser, encoder and latents stay the model's).

    .venv/bin/python -m diffusion_core train-vae --config configs/vae_32_f4_decoder.json --out runs/vae_32_f4_decoder
    .venv/bin/python scripts/swap_decoder.py models/detailed_32.safetensors \
        runs/vae_32_f4_decoder/ckpt_last.safetensors models/detailed_32.safetensors

The run must have started from the model (`init_from`) with `freeze_encoder`; anything else is refused with the
reason (diffusion_core.models.latent.swap_decoder). The output may be the model file itself (written atomically).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from diffusion_core.models.latent import swap_decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="latent model checkpoint (e.g. models/detailed_32.safetensors)")
    parser.add_argument("vae_run", type=Path, help="the decoder-only run's ckpt_last.safetensors")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    try:
        swap_decoder(args.model, args.vae_run, args.out)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    print(args.out)


if __name__ == "__main__":
    main()
