"""VoxelGenerator: rebuilds the model from the checkpoint, validates input, seeds are per sample."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_core.diffusion import samplers
from diffusion_core.models.checkpoint import load_checkpoint, save_checkpoint
from diffusion_core.pipeline import VoxelGenerator, to_voxels
from tests.tiny_models import save_tiny_checkpoint

CLASSES = ["chair", "table", "lamp"]


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> VoxelGenerator:
    """A tiny 8^3 RGBA model with random (non-zero) weights, saved and reloaded as a checkpoint."""
    path = tmp_path_factory.mktemp("pipeline") / "tiny.safetensors"
    save_tiny_checkpoint(path, CLASSES, num_timesteps=40, attention_resolutions=(4,), perturb=True)
    return VoxelGenerator.from_checkpoint(path)


def test_attributes_come_from_the_checkpoint(generator):
    assert (generator.class_names, generator.resolution, generator.channels) == (CLASSES, 8, 4)
    assert generator.model_name == "tiny"


def test_a_model_without_a_vae_refuses_round_trips_through_one(generator, tmp_path):
    with pytest.raises(ValueError, match="has no VAE to re-encode through"):
        generator.set_reencode(1)
    generator.set_reencode(0)
    path = tmp_path / "bad.safetensors"
    save_tiny_checkpoint(path, CLASSES)
    ckpt = load_checkpoint(path)
    save_checkpoint(path, model_state=ckpt.model_state, ema_state=ckpt.ema_state, config=ckpt.config,
                    class_names=ckpt.class_names, step=ckpt.step, extra={**ckpt.extra, "reencode": 2})
    with pytest.raises(ValueError, match="has no VAE to re-encode through"):  # a file that asks for it anyway
        VoxelGenerator.from_checkpoint(path)


def test_generate_shape_range_and_determinism(generator):
    voxels = generator.generate([0, 1, 2], [0, 1, 2], steps=3)
    assert voxels.shape == (3, 4, 8, 8, 8) and voxels.dtype == np.float32
    assert voxels.min() >= 0.0 and voxels.max() <= 1.0
    assert voxels.std() > 0.05  # not a constant grid
    np.testing.assert_array_equal(generator.generate([0, 1, 2], [0, 1, 2], steps=3), voxels)
    assert not np.allclose(voxels[0], generator.generate([0], [99], steps=3)[0])


@pytest.mark.parametrize("sampler, eta", [("ddim", 0.0), ("ddpm", 0.0), ("ddim", 1.0)])
def test_a_seed_alone_equals_the_same_seed_in_a_batch(generator, sampler, eta):
    kwargs = dict(steps=3, sampler=sampler, eta=eta, guidance=2.5)
    alone = generator.generate([1], [5], **kwargs)
    batch = generator.generate([0, 1, 2], [3, 5, 9], **kwargs)
    # Up to float rounding: oneDNN picks its matmul kernels by batch shape (1.03e-5 measured on an AVX-512 Xeon).
    np.testing.assert_allclose(batch[1:2], alone, atol=1e-4)


def test_progressive_yields_every_step_and_ends_at_generate(generator):
    steps = list(generator.generate_progressive([2, 0], [4, 4], steps=4, guidance=1.0))
    assert [s.index for s in steps] == [0, 1, 2, 3] and all(s.total == 4 for s in steps)
    assert steps[0].t > steps[-1].t
    assert steps[-1].pred_x0.shape == (2, 4, 8, 8, 8)
    final = generator.generate([2, 0], [4, 4], steps=4, guidance=1.0)
    np.testing.assert_array_equal(to_voxels(steps[-1].x_t), final)


def test_the_generator_walks_the_steps_of_its_spacing(generator, monkeypatch):
    """Trailing unless set (eval --spacing sets it): the steps taken are samplers.sampling_timesteps'."""
    first = samplers.sampling_start(generator.diffusion, 4)
    for spacing in ("trailing", "logsnr"):
        monkeypatch.setattr(generator, "spacing", spacing)
        walked = [s.t for s in generator.generate_progressive([1], [4], steps=4)]
        assert walked == samplers.sampling_timesteps(generator.diffusion, 4, first, spacing)[::-1]
    assert walked != samplers.spaced_timesteps(generator.diffusion.num_timesteps, 4, first)[::-1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(labels=[3], seeds=[0]), "not a class index"),
        (dict(labels=[-1], seeds=[0]), "not a class index"),
        (dict(labels=[0.5], seeds=[0]), "not a class index"),
        (dict(labels=[0], seeds=[-1]), "seed"),
        (dict(labels=[0], seeds=[True]), "seed"),
        (dict(labels=[0], seeds=[1.0]), "seed"),
        (dict(labels=[0, 1], seeds=[0]), "one seed per label"),
        (dict(labels=[], seeds=[]), "at least one label"),
        (dict(labels=[0], seeds=[0], steps=0), "steps"),
        (dict(labels=[0], seeds=[0], steps=41), "steps"),
        (dict(labels=[0], seeds=[0], sampler="euler"), "sampler"),
        (dict(labels=[0], seeds=[0], eta=-0.1), "eta"),
        (dict(labels=[0], seeds=[0], guidance=float("nan")), "guidance"),
    ],
)
def test_invalid_requests_raise_clear_errors(generator, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(**kwargs)
    with pytest.raises(ValueError, match=message):
        generator.generate_progressive(**kwargs)


def test_numpy_integers_are_accepted(generator):
    np.testing.assert_array_equal(generator.generate(np.array([1]), np.array([5]), steps=2),
                                  generator.generate([1], [5], steps=2))
