"""The add-on's bpy-free helpers: stored parameters, presets, scatter layout, requests."""
import numpy as np
import pytest

from blender_addon.shared.colors import hue_of
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


# ------------------------------------------------------------------ artist control (issue 12)
from blender_addon.shared.background import resolve_grid, result_objects  # noqa: E402
from blender_addon.shared.generation import NO_BLEND, NO_HUE, StartGrid, box_from_bounds, palette_kwargs, region_box  # noqa: E402
from blender_addon.shared.meshing import cube_mesh, lattice_offset, smooth_mesh, smooth_vertex_colors  # noqa: E402
from blender_addon.shared.protocol import GenerateResult, MeshData, ServerInfo  # noqa: E402


def _grid(seed: int = 0, r: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    voxels = rng.random((4, r, r, r)).astype(np.float32)
    voxels[3] = 0.0
    voxels[3, 2:6, 2:6, 1:7] = rng.uniform(0.6, 1.0, (4, 4, 6))
    return voxels


def test_params_of_objects_made_before_the_edits_still_load():
    old = {"class_name": "chair", "seed": 3, "model": "", "steps": 10, "sampler": "ddpm", "guidance": 1.5,
           "mesh_style": "cubes", "alpha_threshold": 0.5, "mesh_size": 1.0, "model_name": "m"}
    params = GenerationParams.from_dict(old)
    assert params == GenerationParams("chair", 3, steps=10, sampler="ddpm", mesh_style="cubes", alpha_threshold=0.5)
    assert params.strength == 1.0 and not params.inpainted and params.blend_seed == NO_BLEND and params.palette == ""
    assert not params.from_grid and params.count == 1
    edited = GenerationParams("chair", 3, strength=0.4, inpainted=True, blend_seed=9, blend_index=1, blend_count=3,
                              palette="pico8")
    stored = {**edited.to_dict(), "inpainted": 1}  # ID properties hold bools as ints
    assert GenerationParams.from_dict(stored) == edited


def test_bad_edit_params_are_refused():
    with pytest.raises(ValueError, match="strength"):
        GenerationParams("chair", 1, strength=1.5)
    with pytest.raises(ValueError, match="blend"):
        GenerationParams("chair", 1, blend_seed=4, blend_index=3, blend_count=3)
    with pytest.raises(ValueError, match="unknown palette"):
        GenerationParams("chair", 1, palette="sepia")
    with pytest.raises(ValueError, match="1..256"):
        GenerationParams("chair", 1, palette="0")


def test_palette_options():
    assert palette_kwargs("") == {} and palette_kwargs("6") == {"k": 6} and palette_kwargs("pico8") == {"palette": "pico8"}
    assert palette_kwargs("#ff0000, #00ff00") == {"palette": ["#ff0000", "#00ff00"]}
    with pytest.raises(ValueError):
        palette_kwargs("#ff00")


def test_init_region_and_strength_reach_the_request():
    init = _grid()
    region = region_box((0, 0, 4, 8, 8, 8), 8)
    assert region.sum() == 8 * 8 * 4 and region[:, :, 4:].all()
    request = make_request(GenerationParams("chair", 5, strength=0.3), 1, StartGrid(init, region))
    assert request.strength == 0.3 and request.edited and request.outputs == ("voxels", "mesh")
    np.testing.assert_array_equal(request.init, init)
    np.testing.assert_array_equal(request.region, region)
    assert make_request(GenerationParams("chair", 5, mesh_style="cubes"), 1).init is None
    with pytest.raises(ValueError, match="needs that grid"):  # an edited object cannot be redone from its params
        make_request(GenerationParams("chair", 5, strength=0.3), 1)


def test_a_blend_asks_for_its_whole_row_and_names_each_in_between():
    params = GenerationParams("chair", 1, blend_seed=7, blend_count=3, mesh_style="cubes", alpha_threshold=0.5)
    request = make_request(params, params.count)
    assert request.blend_seed == 7 and request.count == 3 and request.seeds == [1, 1, 1]
    result = GenerateResult("chair", (1, 1, 1), np.stack([_grid(i) for i in range(3)]))
    objects = result_objects(params, result)
    assert [o.params.object_name() for o in objects] == ["chair_1-7_0", "chair_1-7_1", "chair_1-7_2"]
    assert [o.params.blend_index for o in objects] == [0, 1, 2]


def test_region_boxes_and_helper_bounds():
    for bad in [(0, 0, 0, 9, 8, 8), (3, 0, 0, 3, 8, 8), (-1, 0, 0, 2, 2, 2), (0, 0, 0, 1, 1)]:
        with pytest.raises(ValueError, match="box"):
            region_box(bad, 8)
    assert box_from_bounds((0.4, 1.4, -5.0), (2.6, 2.6, 3.5), 8) == (0, 1, 0, 3, 3, 4)  # centres at i + 0.5
    with pytest.raises(ValueError, match="no voxel centre"):
        box_from_bounds((0.4, 1.6, 0), (2.6, 2.4, 8), 8)  # between the centres 1.5 and 2.5
    with pytest.raises(ValueError, match="no voxel centre"):
        box_from_bounds((9.0, 0, 0), (10.0, 1, 1), 8)


def test_older_servers_are_refused_for_edits():
    info = ServerInfo(model_name="m", class_names=("chair",), resolution=8, protocol_version="1.3")
    with pytest.raises(ValueError, match="update the server"):
        resolve_grid(StartGrid(_grid()), info, GenerationParams("chair", 1))
    assert resolve_grid(None, info, GenerationParams("chair", 1)) is None
    new = ServerInfo(model_name="m", class_names=("chair",), resolution=8)
    made = resolve_grid(lambda model: StartGrid(np.zeros((model.channels,) + (model.resolution,) * 3)), new,
                        GenerationParams("chair", 1))
    assert made.init.shape == (4, 8, 8, 8)
    with pytest.raises(ValueError, match="no model 'x'"):
        resolve_grid(lambda model: None, new, GenerationParams("chair", 1, model="x"))


@pytest.mark.parametrize("style", ["cubes", "smooth"])
def test_the_mesh_frame_offset_maps_meshes_back_onto_their_voxels(style):
    for seed in range(5):
        voxels = _grid(seed)
        voxels[3, :, :, 1] *= 0.7 if seed % 2 else 1.0  # a fractional lowest crossing for the smooth surface
        mesh = (cube_mesh if style == "cubes" else smooth_mesh)(voxels, 0.5, 2.0)
        lattice = mesh.vertices * (8 / 2.0) + lattice_offset(voxels, 0.5, style)
        if style == "cubes":
            np.testing.assert_allclose(lattice, np.round(lattice), atol=1e-4)
            assert lattice[:, 2].min() == pytest.approx(1.0)
        else:  # the same colours smooth_mesh gave, from its own vertices
            np.testing.assert_allclose(smooth_vertex_colors(voxels, mesh.vertices, 0.5, 2.0), mesh.vertex_colors,
                                       atol=1e-5)


def _smooth_result(voxels: np.ndarray, params: GenerationParams) -> GenerateResult:
    mesh = smooth_mesh(voxels, params.alpha_threshold, params.mesh_size)
    return GenerateResult("chair", (params.seed,), voxels[None],
                          (MeshData(mesh.vertices, mesh.faces, mesh.vertex_colors, "vertex"),))


def test_palettes_snap_before_meshing_in_both_styles():
    voxels = _grid(3)
    (cubes,) = result_objects(GenerationParams("chair", 1, mesh_style="cubes", alpha_threshold=0.5, palette="3"),
                              GenerateResult("chair", (1,), voxels[None]))
    occupied = cubes.voxels[3] >= 0.5
    assert len(np.unique(cubes.voxels[:3, occupied].T, axis=0)) <= 3
    assert len(np.unique(cubes.mesh.face_colors[:, :3], axis=0)) <= 3
    np.testing.assert_array_equal(cubes.voxels[3], voxels[3])  # a snap changes no alpha
    params = GenerationParams("chair", 1, alpha_threshold=0.5, palette="gameboy")
    (smooth,) = result_objects(params, _smooth_result(voxels, params))
    from blender_addon.shared.palette import PRESETS

    gameboy = PRESETS["gameboy"]
    distance = np.abs(smooth.mesh.vertex_colors[:, None, :3] - gameboy[None]).max(-1).min(1)
    assert distance.max() < 1e-6  # every vertex one of the palette's colours
    np.testing.assert_array_equal(smooth.mesh.vertices, smooth_mesh(voxels, 0.5, 1.0).vertices)  # the server's surface


def test_a_region_keeps_every_voxel_outside_it_exactly_also_with_a_palette():
    init, produced = _grid(1), _grid(2)
    region = region_box((0, 0, 4, 8, 8, 8), 8)
    params = GenerationParams("chair", 1, mesh_style="cubes", alpha_threshold=0.5, inpainted=True, palette="4")
    (obj,) = result_objects(params, GenerateResult("chair", (1,), produced[None]), StartGrid(init, region))
    np.testing.assert_array_equal(obj.voxels[:, ~region], init[:, ~region])
    occupied = (obj.voxels[3] >= 0.5) & region
    kept = {tuple(c) for c in init[:3, ~region & (init[3] >= 0.5)].T}
    assert {tuple(c) for c in obj.voxels[:3, occupied].T} <= kept  # the region takes the kept voxels' colours


def test_join_parts_is_stored_and_reaches_the_request():
    assert make_request(GenerationParams("stool", 1), 1).join_parts  # on by default
    apart = GenerationParams("stool", 1, join_parts=False)
    assert not make_request(apart, 1).join_parts
    stored = {**apart.to_dict(), "join_parts": 0}  # ID properties hold bools as ints
    assert GenerationParams.from_dict(stored) == apart
    older = {k: v for k, v in apart.to_dict().items() if k != "join_parts"}  # an object made before the option
    assert GenerationParams.from_dict(older).join_parts


def test_an_asked_hue_is_stored_and_reaches_the_request():
    assert make_request(GenerationParams("chair", 5), 1).hue is None  # each seed's own colour
    params = GenerationParams("chair", 5, hue=0.6)
    assert make_request(params, 2).hue == 0.6
    assert GenerationParams.from_dict(params.to_dict()) == params
    assert GenerationParams.from_dict({"class_name": "chair", "seed": 5}).hue == NO_HUE  # objects made before hues
    for bad in (1.5, -0.5, float("nan"), "0.5", True, None):
        with pytest.raises(ValueError, match="hue must be a number"):
            GenerationParams("chair", 1, hue=bad)


@pytest.mark.parametrize("rgb, hue", [((1, 0, 0), 0.0), ((0, 1, 0), 1 / 3), ((0, 0, 1), 2 / 3), ((1, 0.5, 0), 1 / 12),
                                      ((0.5, 0.5, 0.5), 0.0), ((2.0, -1.0, 0.0), 0.0)])
def test_hue_of_a_colour(rgb, hue):
    assert hue_of(rgb) == pytest.approx(hue)
