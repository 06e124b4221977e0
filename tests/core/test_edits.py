"""Artist control in the sampler (issue 12): start from a grid (SDEdit strength), regenerate a region
(inpainting), blend two seeds. On a tiny pixel-space model and on the bundled latent model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_addon.shared.edits import Edit
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.pipeline import VoxelGenerator
from tests.tiny_models import save_tiny_checkpoint

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "default_16.safetensors"
FAST = dict(steps=8, sampler="ddpm", eta=0.0, guidance=1.5)


@pytest.fixture(scope="module")
def pixel(tmp_path_factory) -> VoxelGenerator:
    path = save_tiny_checkpoint(tmp_path_factory.mktemp("edits") / "tiny.safetensors", ("a", "b"), num_timesteps=40,
                                perturb=True)
    return VoxelGenerator.from_checkpoint(path, precision="fp32")


@pytest.fixture(scope="module")
def latent() -> VoxelGenerator:
    return VoxelGenerator.from_checkpoint(BUNDLED, precision="fp32")


@pytest.fixture(scope="module")
def chairs() -> np.ndarray:
    """Two held-out data chairs [2, 4, 16, 16, 16] (seed 777: neither the VAE's nor the denoiser's data)."""
    data = make_synthetic_dataset(2, resolution=16, seed=777, classes=["chair"])
    return data.voxels


def _grid(generator: VoxelGenerator, n: int) -> np.ndarray:
    return np.random.default_rng(0).random((n, generator.channels) + (generator.resolution,) * 3, dtype=np.float32)


@pytest.mark.parametrize("model", ["pixel", "latent"])
def test_strength_one_is_plain_generation(model, request):
    generator = request.getfixturevalue(model)
    init = _grid(generator, 2)
    plain = generator.generate([0, 1], [5, 6], **FAST)
    np.testing.assert_array_equal(generator.generate([0, 1], [5, 6], **FAST, edit=Edit(init=init, strength=1.0)), plain)


def test_strength_zero_returns_the_input(pixel, latent, chairs):
    init = _grid(pixel, 2)
    np.testing.assert_allclose(pixel.generate([0, 1], [5, 6], **FAST, edit=Edit(init=init, strength=0.0)), init,
                               atol=1e-6)
    back = latent.generate([4, 4], [5, 6], **FAST, edit=Edit(init=chairs, strength=0.0))  # the VAE round trip
    np.testing.assert_allclose(back, latent.to_voxels(latent.encode(chairs)), atol=1e-6)
    solid, again = chairs[:, 3] >= 0.9, back[:, 3] >= 0.9
    assert (solid & again).sum() / (solid | again).sum() > 0.9


def test_low_strength_keeps_the_layout_and_high_strength_departs(latent, chairs):
    label = latent.class_names.index("chair")
    iou = {}
    for strength in (0.3, 1.0):
        out = latent.generate([label] * 2, [11, 12], **FAST, edit=Edit(init=chairs, strength=strength))
        a, b = out[:, 3] >= 0.9, chairs[:, 3] >= 0.9
        iou[strength] = float(((a & b).sum((1, 2, 3)) / (a | b).sum((1, 2, 3))).mean())
    assert iou[0.3] > 0.6 and iou[0.3] > iou[1.0] + 0.1, iou


@pytest.mark.parametrize("model", ["pixel", "latent"])
def test_inpainting_keeps_every_voxel_outside_the_region_bit_identical(model, request, chairs):
    generator = request.getfixturevalue(model)
    init = chairs if model == "latent" else _grid(generator, 2)
    region = np.zeros((2,) + (generator.resolution,) * 3, bool)
    region[:, :, :, generator.resolution // 2:] = True  # the top half is regenerated
    label = generator.class_names.index("chair") if model == "latent" else 0
    out = generator.generate([label] * 2, [3, 4], **FAST, edit=Edit(init=init, region=region))
    outside = np.broadcast_to(~region[:, None], out.shape)
    assert np.array_equal(out[outside], init[outside])
    assert not np.allclose(out[~outside], init[~outside])


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_blend_ends_are_the_two_seeds_and_the_middle_is_between(pixel, sampler):
    settings = {**FAST, "sampler": sampler}
    a, b = pixel.generate([0] * 3, [5] * 3, **settings), pixel.generate([0] * 3, [9] * 3, **settings)  # same batch
    row = pixel.generate([0] * 3, [5] * 3, **settings, edit=Edit(blend_seeds=[9] * 3, blend_weights=[0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(row[0], a[0])
    np.testing.assert_array_equal(row[2], b[2])
    assert not np.allclose(row[1], a[1], atol=1e-3) and not np.allclose(row[1], b[1], atol=1e-3)


@pytest.mark.parametrize("kwargs, words", [
    (dict(strength=1.5), "strength"),
    (dict(strength=0.5), "needs an init"),
    (dict(init=np.zeros((1, 4, 8, 8, 8), np.float32), region=np.zeros((1, 8, 8, 8), np.uint8)), "bool"),
    (dict(init=np.full((1, 4, 8, 8, 8), np.nan, np.float32)), "finite"),
    (dict(blend_seeds=[1], blend_weights=[2.0]), "weight"),
])
def test_malformed_edits_say_what_is_wrong(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Edit(**kwargs)


def test_an_init_of_the_wrong_grid_is_refused(pixel):
    with pytest.raises(ValueError, match=r"\[N, 4, 8, 8, 8\]"):
        pixel.generate([0], [1], **FAST, edit=Edit(init=np.zeros((1, 4, 16, 16, 16), np.float32), strength=0.5))
    with pytest.raises(ValueError, match="describes 2 objects"):
        pixel.generate([0], [1], **FAST, edit=Edit(init=np.zeros((2, 4, 8, 8, 8), np.float32), strength=0.5))
