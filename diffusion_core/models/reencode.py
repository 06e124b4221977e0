"""Re-encoding a latent model's samples before the last decode (README "Re-encoding the sampled latents").

The denoiser's latents lie further from the VAE's own (the encodings of what they decode to) than real shapes'
latents do (scripts/latent_offset.py), and the decoder leaves more of their voxels undecided (alpha between 0.1
and the threshold), mostly at thin parts. One round trip z <- E(D(z)) (the encoder's posterior mean of the decoded
grid, alpha as the decoder's probability) puts a sample on the encoder's latents, which the decoder decodes more
decisively (the 32^3 model: undecided voxels 11.5% -> 8%, thin classes 4-7 points fuller). A model file's
`reencode` extra is how many round trips its samples take (0: none).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable

from torch import Tensor

MAX_REENCODE = 3
"""The most round trips a model file may ask for (each costs one encoder and one decoder pass)."""


def validate_reencode(value: object, latent: bool = True) -> int:
    """A model file's (or eval's) `reencode`: an integer in [0, MAX_REENCODE], and 0 for a model without a VAE
    (`latent` False); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_REENCODE:
        raise ValueError(f"reencode must be an integer from 0 to {MAX_REENCODE}, got {value!r}")
    if value and not latent:
        raise ValueError(f"reencode {value} needs a latent model; this one has no VAE to re-encode through "
                         "(reencode must be 0)")
    return int(value)


def reencode(z: Tensor, decode: Callable[[Tensor], Tensor], encode: Callable[[Tensor], Tensor], rounds: int) -> Tensor:
    """Normalised latents z [N, C_lat, r, r, r] -> the same after `rounds` of z <- encode(decode(z)), the decoding
    (model space [N, C, R, R, R]) clamped to [-1, 1] as voxels are."""
    for _ in range(validate_reencode(rounds)):
        z = encode(decode(z).float().clamp(-1.0, 1.0))
    return z
