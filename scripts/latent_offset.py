"""How far a latent model's sampled latents lie from the latents its encoder gives what they decode to, against the
same for real shapes: are the decoder's inputs at sampling further from the encoder's latents than in training?

    .venv/bin/python scripts/latent_offset.py models/detailed_32.safetensors [--per-class 4] [--seed 2100000]

Each latent z (sampled at the default settings, or a real shape's encoding: data seed 9005) is decoded and encoded
again; the RMS of z minus the re-encoding, in normalised latent units (the denoiser's), per object and per channel.
A round trip of real shapes is the floor; the sampled latents' larger offset is the size of the latent noise a
decoder trained for them sees (`train-vae` `latent_noise`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.models.reencode import reencode
from diffusion_core.pipeline import VoxelGenerator

DATA_SEED = 9005


def reencode_offset(generator: VoxelGenerator, z: Tensor) -> Tensor:
    """Normalised latents z [N, C_lat, r, r, r] -> z minus the encoding of their decoding (one models.reencode round
    trip), same shape."""
    with torch.inference_mode():
        return z - reencode(z, generator.codec.decode, generator.codec.encode, 1)


def rms_per_object(offset: Tensor) -> Tensor:
    """[N, C_lat, r, r, r] -> [N]."""
    return offset.pow(2).flatten(1).mean(1).sqrt()


def rms_per_channel(offset: Tensor) -> Tensor:
    """[N, C_lat, r, r, r] -> [C_lat]."""
    return offset.pow(2).mean((0, 2, 3, 4)).sqrt()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a latent model")
    parser.add_argument("--per-class", type=int, default=4, help="samples (and real shapes) per class")
    parser.add_argument("--seed", type=int, default=2_100_000, help="the first sample seed")
    args = parser.parse_args()
    generator = VoxelGenerator.from_checkpoint(args.checkpoint)
    if generator.codec is None:
        parser.error(f"{args.checkpoint} is not a latent model")
    names = generator.class_names
    labels = torch.arange(len(names)).repeat_interleave(args.per_class)
    last = None
    for last in generator.generate_progressive(labels.tolist(), list(range(args.seed, args.seed + len(labels)))):
        pass
    sampled = reencode_offset(generator, last.x_t.float())
    real_set = make_synthetic_dataset(len(labels), generator.resolution, seed=DATA_SEED)
    real = reencode_offset(generator, generator.encode(real_set.voxels).float())
    real_labels = torch.from_numpy(real_set.labels)
    for title, offset in (("sampled", sampled), ("real", real)):
        per_object = rms_per_object(offset)
        print(f"{title:8s} RMS offset {per_object.mean():.3f} (median {per_object.median():.3f}); per channel "
              f"{' '.join(f'{v:.3f}' for v in rms_per_channel(offset).tolist())}")
    print(f"{'class':10s} sampled  real")
    sampled_rms, real_rms = rms_per_object(sampled), rms_per_object(real)
    for k, name in enumerate(names):
        print(f"{name:10s} {sampled_rms[labels == k].mean():7.3f} {real_rms[real_labels == k].mean():6.3f}")


if __name__ == "__main__":
    main()
