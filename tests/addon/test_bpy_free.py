"""The add-on's bpy-free helpers: stored parameters, presets, scatter layout, requests."""
import numpy as np
import pytest

from blender_addon.shared.generation import GenerationParams, preset_steps
from blender_addon.shared.settings import DEFAULT_SAMPLER, DEFAULT_STEPS
from blender_addon.shared.background import make_request
from blender_addon.shared.layout import footprint_radius, grid_positions, scatter_positions


def test_params_round_trip_through_custom_property_values():
    params = GenerationParams("chair", 12, steps=10, sampler="ddpm", guidance=2.5, mesh_style="cubes",
                              alpha_threshold=0.7, mesh_size=2.0)
    stored = {**params.to_dict(), "model_name": "m"}  # what scene_build writes on the object
    assert GenerationParams.from_dict(stored) == params
    legacy = {k: v for k, v in stored.items() if k not in ("alpha_threshold", "mesh_size")} | {"threshold": 0.7, "size": 2.0}
    assert GenerationParams.from_dict(legacy) == params  # objects made before the rename keep their settings
    assert params.object_name() == "chair_12" and params.with_seed(3).seed == 3


def test_presets_and_custom():
    assert preset_steps("DRAFT", 99, "ddim") == (10, DEFAULT_SAMPLER)
    assert preset_steps("NORMAL", 99, "ddim") == (DEFAULT_STEPS, DEFAULT_SAMPLER)
    assert preset_steps("HIGH", 99, "ddim") == (100, DEFAULT_SAMPLER)
    assert preset_steps("CUSTOM", 99, "ddim") == (99, "ddim")


def test_requests_ask_the_server_for_smooth_meshes_only():
    smooth = make_request(GenerationParams("chair", 5, alpha_threshold=0.6, mesh_size=2.0), count=3)
    assert smooth.outputs == ("voxels", "mesh") and smooth.seeds == [5, 6, 7]
    assert smooth.alpha_threshold == 0.6 and smooth.mesh_size == 2.0
    assert make_request(GenerationParams("chair", 5, mesh_style="cubes"), 1).outputs == ("voxels",)


def test_scatter_keeps_objects_apart_and_inside():
    radius = footprint_radius(1.0)
    pts = scatter_positions(12, (10.0, 8.0), radius, min_distance=0.25, seed=7)
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(12) * 1e9
    assert gaps.min() >= 2 * radius + 0.25
    assert np.all(np.abs(pts) <= np.array([5.0, 4.0]) - radius)
    np.testing.assert_array_equal(pts, scatter_positions(12, (10.0, 8.0), radius, 0.25, seed=7))
    with pytest.raises(ValueError, match="fit"):
        scatter_positions(50, (4.0, 4.0), radius, seed=0, max_tries=500)


def test_grid_positions_rows_and_columns():
    assert grid_positions(2, 2, 2.0, (1.0, 0.0, 0.0)) == [(1.0, 0.0, 0.0), (3.0, 0.0, 0.0), (1.0, -2.0, 0.0),
                                                          (3.0, -2.0, 0.0)]
