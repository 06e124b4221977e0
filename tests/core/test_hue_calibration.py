"""The colour condition's calibration: offsets applied around the wheel, fitted as the inverse of a measured
response, stored in the model file and applied by the generator; and the dominant hue it is measured with, and the hue an object takes when none is asked for."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.hue_response import fit_hue_calibration, mean_response
from diffusion_core.models.checkpoint import export_inference_checkpoint
from diffusion_core.models.hue import (calibrated_hues, circular_gap, dominant_hues, own_hues, seed_hues, signed_gap,
                                      validate_hue_calibration)
from diffusion_core.pipeline import VoxelGenerator
from tests.tiny_models import record_hues, save_tiny_checkpoint


def test_no_calibration_only_wraps_the_hues():
    assert calibrated_hues([0.25, 1.5, -0.25], None) == [0.25, 0.5, 0.75]


def test_offsets_apply_at_their_knots_linearly_between_and_across_red():
    offsets = [0.0, 0.1, 0.0, -0.1]  # knots at 1/8, 3/8, 5/8, 7/8
    out = calibrated_hues([3 / 8, 0.25, 7 / 8, 0.0, 0.99], offsets)
    expected = [3 / 8 + 0.1, 0.25 + 0.05, 7 / 8 - 0.1, 1 - 0.05, (0.99 - 0.1 * (1.125 - 0.99) / 0.25) % 1.0]
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert all(0 <= h < 1 for h in out)


@pytest.mark.parametrize("bad", [None, [0.1, 0.2], [0.0, 0.3, 0.0], [0.0, float("nan"), 0.0], [0.0, True, 0.0], "0.1"])
def test_a_malformed_calibration_is_refused(bad):
    with pytest.raises(ValueError, match="hue_calibration"):
        validate_hue_calibration(bad)


def _response(c: np.ndarray) -> np.ndarray:
    """A made-up model: objects come out pulled towards yellow and blue (a smooth 2-harmonic bias)."""
    return (c + 0.04 * np.sin(2 * np.pi * c) - 0.03 * np.cos(4 * np.pi * c)) % 1.0


def test_the_fitted_calibration_inverts_a_measured_response():
    rng = np.random.default_rng(0)
    given = (np.arange(24) + 0.5) / 24
    dominant = (_response(given) + rng.normal(0, 0.03, size=(48, 24))) % 1.0  # 48 noisy objects per given hue
    dominant[0, 3] = np.nan  # an object with no saturated voxel is left out
    np.testing.assert_allclose(mean_response(given, _response(given)[None]), signed_gap(_response(given), given))
    offsets = fit_hue_calibration(given, dominant)
    wanted = np.linspace(0, 1, 97, endpoint=False)
    came_out = _response(np.array(calibrated_hues(wanted, offsets)))
    assert circular_gap(came_out, wanted).max() < 0.01  # within 3.6 degrees of the wanted hue
    assert circular_gap(_response(wanted), wanted).max() > 0.05  # uncalibrated: up to 25 degrees off


def test_the_data_objects_dominant_hue_is_their_main_hue():
    data = make_synthetic_dataset(64, resolution=16, seed=9005)
    assert np.nanmedian(circular_gap(dominant_hues(data.voxels), data.hues)) < 1 / 360
    grey = np.zeros((1, 4, 4, 4, 4), dtype=np.float32)
    grey[0, :3], grey[0, 3] = 0.5, 1.0
    assert np.isnan(dominant_hues(grey)).all()


def test_the_model_file_carries_the_calibration_to_the_generator(tmp_path, monkeypatch):
    path = save_tiny_checkpoint(tmp_path / "hue.safetensors", ["a", "b"], perturb=True, hue_conditional=True)
    offsets = [0.05, -0.02, 0.0, 0.01]
    export_inference_checkpoint(path, path, dtype=None, hue_calibration=offsets)
    export_inference_checkpoint(path, path, dtype=None, model_name="renamed")  # kept when other fields change
    generator = VoxelGenerator.from_checkpoint(path)
    assert generator.hue_calibration == offsets and generator.model_name == "renamed"
    seen = record_hues(generator, monkeypatch)
    generator.generate([0, 1], [11, 12], steps=2, guidance=1.0, hues=[None, 0.125])
    wanted = [seed_hues([11])[0], 0.125]
    assert torch.allclose(seen[0], torch.tensor(calibrated_hues(wanted, offsets), dtype=torch.float32))
    assert abs(float(seen[0][1]) - 0.175) < 1e-6  # the knot at 1/8 adds its offset
    with pytest.raises(ValueError, match="hue_calibration"):
        export_inference_checkpoint(path, tmp_path / "bad.safetensors", hue_calibration=[0.0, 0.5, 0.0])


def _block(hue_rgb: tuple[float, float, float], n: int = 1) -> np.ndarray:
    grid = np.zeros((n, 4, 8, 8, 8), dtype=np.float32)
    grid[:, :3, 2:6, 2:6, 2:6] = np.array(hue_rgb, dtype=np.float32)[None, :, None, None, None]
    grid[:, 3, 2:6, 2:6, 2:6] = 1.0
    return grid


def test_an_object_s_own_hue_is_its_seed_s_its_blend_s_or_its_grid_s():
    a, b = seed_hues([5, 6])
    assert own_hues([5, 6]) == [a, b]
    half = own_hues([5], blend_seeds=[6], blend_weights=[0.5])[0]
    assert abs(circular_gap(half, a) - circular_gap(half, b)) < 1e-9 and circular_gap(half, a) <= 0.25  # the short arc
    assert own_hues([5], blend_seeds=[6], blend_weights=[1.0])[0] == pytest.approx(b)
    blue, grey = _block((0.1, 0.2, 0.9)), _block((0.5, 0.5, 0.5))
    assert own_hues([5, 6], init=np.concatenate([blue, grey])) == pytest.approx([dominant_hues(blue)[0], b])


def test_an_edit_keeps_its_grid_s_colour_unless_a_hue_is_asked(tmp_path, monkeypatch):
    from blender_addon.shared.edits import Edit
    path = save_tiny_checkpoint(tmp_path / "hue.safetensors", ["a", "b"], perturb=True, hue_conditional=True)
    generator = VoxelGenerator.from_checkpoint(path)
    seen = record_hues(generator, monkeypatch)
    blue = _block((0.1, 0.2, 0.9), n=2)
    generator.generate([0, 1], [11, 12], steps=2, guidance=1.0, hues=[None, 0.3], edit=Edit(init=blue, strength=0.5))
    assert torch.allclose(seen[0], torch.tensor([dominant_hues(blue)[0], 0.3], dtype=torch.float32))
    seen.clear()  # strength 1 ignores the grid: the seed's own object, colour included
    generator.generate([0, 1], [11, 12], steps=2, guidance=1.0, edit=Edit(init=blue, strength=1.0))
    assert torch.allclose(seen[0], torch.tensor(seed_hues([11, 12]), dtype=torch.float32))
