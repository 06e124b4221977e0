"""Each bundled checkpoint loads on the CPU and makes one object of every class (shape/value checks)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffusion_core.diffusion import samplers
from diffusion_core.evaluation.metrics import undecided_share
from diffusion_core.models.hue import circular_gap, dominant_hues
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.data.shapes import CLASS_NAMES

MODELS = Path(__file__).resolve().parents[2] / "models"
BUNDLED = {"default_16.safetensors": 16, "detailed_32.safetensors": 32}  # file -> grid resolution


@pytest.mark.parametrize("name, resolution", BUNDLED.items())
def test_bundled_model_generates_every_class_on_the_cpu(name, resolution):
    generator = VoxelGenerator.from_checkpoint(MODELS / name, device="cpu")
    assert list(generator.class_names) == list(CLASS_NAMES)
    assert (generator.resolution, generator.channels) == (resolution, 4)
    labels = list(range(len(CLASS_NAMES)))
    voxels = generator.generate(labels, seeds=labels, steps=10, guidance=3.0)
    assert voxels.shape == (len(CLASS_NAMES), 4, resolution, resolution, resolution) and voxels.dtype == np.float32
    assert np.isfinite(voxels).all() and voxels.min() >= 0.0 and voxels.max() <= 1.0
    occupied = voxels[:, 3] >= 0.9
    counts = occupied.reshape(len(labels), -1).sum(axis=1)
    assert (counts > 0).all() and (counts < resolution**3 // 2).all(), counts  # objects, not empty or solid grids
    rgb = voxels[:, :3].transpose(0, 2, 3, 4, 1)[occupied]
    assert rgb.std(axis=0).max() > 0.01  # coloured, not one flat value
    pair = [generator.generate(labels[:2], seeds=labels[:2], steps=10, guidance=3.0) for _ in range(2)]
    np.testing.assert_array_equal(pair[0], pair[1])  # seeded: the same objects again
    # Alone or in a batch of 16, a seed gives the same object up to float rounding in the batched matmuls.
    np.testing.assert_allclose(pair[0], voxels[:2], atol=1e-2)


def _first_step(generator: VoxelGenerator) -> tuple[int, float]:
    """The first timestep at the default settings, and the fraction of its latent x_0 values on the clip."""
    labels = list(range(len(CLASS_NAMES)))
    first = next(iter(generator.generate_progressive(labels, seeds=labels)))
    return first.t, float((first.pred_x0.abs() >= generator.clip_x0 - 1e-3).float().mean())


@pytest.mark.parametrize("name", BUNDLED)
def test_sampling_starts_where_the_first_x0_is_not_clip_garbage(name, monkeypatch):
    """From t = 999 nearly every first-step x_0 value sits on the clip (the eps error times 20 000); from
    samplers.sampling_start (990) at most half as many do (16^3: 5%, 32^3 at its +-4.5 clip: 23%)."""
    generator = VoxelGenerator.from_checkpoint(MODELS / name, device="cpu")
    t, clipped = _first_step(generator)
    monkeypatch.setattr(samplers, "sampling_start", lambda diffusion, steps: diffusion.num_timesteps - 1)
    t_before, clipped_before = _first_step(generator)
    assert (t, t_before) == (990, 999)
    assert clipped_before > 0.9 and clipped < clipped_before / 2, (clipped, clipped_before)


@pytest.mark.parametrize("name", BUNDLED)
def test_a_colour_model_follows_the_asked_hue(name):
    """The panel's Main Colour: a hue-conditional bundled model's objects, asked for red and for blue, take the
    asked hue: at least half of them within 45 degrees, twice what chance would put there (the bundled 16^3 model:
    31 of 32 here, a median gap of about 15 degrees in scripts/hue_adherence.py; the 32^3 model: 21 of 32, 25 degrees)."""
    generator = VoxelGenerator.from_checkpoint(MODELS / name, device="cpu")
    if not generator.hue_conditional:
        pytest.skip(f"{name} takes no colour")
    labels = list(range(len(CLASS_NAMES)))
    within = [circular_gap(dominant_hues(generator.generate(labels, seeds=labels, hues=[asked] * len(labels))), asked)
              <= 45 / 360 for asked in (0.0, 2 / 3)]
    assert np.mean(within) >= 0.5, within


def test_the_detailed_models_samples_take_one_round_trip_through_its_vae():
    """README "Re-encoding the sampled latents": the 32^3 file asks for one decode-encode round trip before the last
    decode, which leaves fewer of its voxels undecided than decoding the sampled latents as drawn (about 8% against
    11.5% at the default settings); the 16^3 file asks for none."""
    assert VoxelGenerator.from_checkpoint(MODELS / "default_16.safetensors", device="cpu").reencode == 0
    generator = VoxelGenerator.from_checkpoint(MODELS / "detailed_32.safetensors", device="cpu")
    assert generator.reencode == 1
    labels = list(range(len(CLASS_NAMES)))
    *_, last = generator.generate_progressive(labels, seeds=labels, steps=10)
    shares = {}
    for rounds in (0, 1):
        generator.set_reencode(rounds)
        shares[rounds] = undecided_share(generator.to_voxels(last.x_t))
    assert shares[1] < 0.85 * shares[0], shares
