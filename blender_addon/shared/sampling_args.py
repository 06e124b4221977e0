"""The sampling flags shared by the `generate` and `eval` commands (one definition, same defaults)."""
from __future__ import annotations

import argparse

from .settings import DEFAULT_ALPHA_THRESHOLD, DEFAULT_ETA, DEFAULT_JOIN_PARTS, DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """--steps, --sampler, --eta, --guidance, --alpha-threshold and --no-join-parts with the panel's defaults."""
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="denoising steps")
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    parser.add_argument("--eta", type=float, default=DEFAULT_ETA, help="DDIM noise (0 = deterministic)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="classifier-free guidance scale")
    parser.add_argument("--alpha-threshold", type=float, default=DEFAULT_ALPHA_THRESHOLD,
                        help="keep voxels whose alpha is at least this")
    parser.add_argument("--no-join-parts", dest="join_parts", action="store_false", default=DEFAULT_JOIN_PARTS,
                        help="keep an object's pieces apart where it breaks at the threshold (default: join them "
                             "along the decoder's most confident voxels)")
