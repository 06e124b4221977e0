"""Scenarios that run inside a fresh Blender (the bpy module) process, started by test_blender_addon.py.

    python tests/addon/blender_scenarios.py SCENARIO '{"port": 5557, ...}'

Each scenario asserts; a failure exits non-zero with the traceback. One process per scenario keeps
Blender state from leaking between them (bpy starts in about half a second).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
EXT_MODULE = "bl_ext.user_default.voxel_diffusion"


def _vertices(obj) -> np.ndarray:
    co = np.zeros(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _shipped(module: str) -> ModuleType:
    """A module of the installed extension (not of this checkout)."""
    return importlib.import_module(f"{EXT_MODULE}.{module}")


def _install_extension(zip_path: str, wheel_only: bool) -> None:
    """Install the built zip as an extension in the (clean) user folder and enable it. `wheel_only`: the
    environment has no pyzmq, so `import zmq` must resolve to the wheel Blender installed from the zip."""
    if wheel_only:
        assert importlib.util.find_spec("zmq") is None, "this environment must not have pyzmq of its own"
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    assert EXT_MODULE in bpy.context.preferences.addons, "the extension did not install or enable (see above)"
    site = Path(bpy.utils.user_resource("EXTENSIONS", path=".local"))
    assert any(site.rglob("zmq/__init__.py")), "the pyzmq wheel was not installed"
    import zmq

    print(f"Blender {bpy.app.version_string}, Python {sys.version.split()[0]}: "
          f"zmq {zmq.zmq_version()} from {zmq.__file__}")
    if wheel_only:
        assert Path(zmq.__file__).is_relative_to(site), zmq.__file__


def install_only(zip_path: str, wheel_only: bool) -> None:
    """Install and enable the zip, nothing else (for scripts that run in the same user folder later)."""
    _install_extension(zip_path, wheel_only)


def refused_install(zip_path: str) -> None:
    """A zip built for another Python: Blender must refuse it (its operator still says FINISHED)."""
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    assert EXT_MODULE not in bpy.context.preferences.addons, "a zip for another Python was enabled"


def _check_generated(obj, class_name: str, seed: int, style: str) -> None:
    names = _shipped("blender.scene_build")
    COLLECTION_NAME, COLOR_ATTRIBUTE, MATERIAL_NAME = names.COLLECTION_NAME, names.COLOR_ATTRIBUTE, names.MATERIAL_NAME

    assert obj.name == f"{class_name}_{seed}", obj.name
    assert obj.users_collection[0].name == COLLECTION_NAME
    params = obj["voxel_diffusion"].to_dict()
    assert params["class_name"] == class_name and params["seed"] == seed and params["mesh_style"] == style
    mesh = obj.data
    assert len(mesh.polygons) > 0
    sizes = {p.loop_total for p in mesh.polygons}
    assert sizes == ({3} if style == "smooth" else {4}), sizes
    attr = mesh.color_attributes[COLOR_ATTRIBUTE]
    assert attr.data_type == "FLOAT_COLOR" and attr.domain == ("POINT" if style == "smooth" else "CORNER")
    material = mesh.materials[0]
    assert material.name == MATERIAL_NAME
    node = next(n for n in material.node_tree.nodes if n.type == "ATTRIBUTE")
    assert node.attribute_name == COLOR_ATTRIBUTE
    link = next(lk for lk in material.node_tree.links if lk.to_socket.name == "Base Color")
    assert link.from_node == node


def installed_extension(zip_path: str, wheel_only: bool, port: int, dead_port: int) -> None:
    """Install the built zip as an extension, then drive the operators against the real server."""
    _install_extension(zip_path, wheel_only)

    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    ops = bpy.ops.voxel_diffusion
    scene = bpy.context.scene
    settings = scene.voxel_diffusion

    # No server: the operator fails with a readable error, quickly.
    prefs.port, prefs.timeout = dead_port, 0.5
    start = time.monotonic()
    try:
        ops.generate()
        raise AssertionError("generate must fail without a server")
    except RuntimeError as e:
        assert "no Voxel Diffusion server answered" in str(e), e
    assert time.monotonic() - start < 5.0
    assert ops.connect() == {"CANCELLED"}

    prefs.port, prefs.timeout = port, 5.0
    assert ops.connect() == {"FINISHED"}
    runtime = _shipped("blender.runtime")
    assert runtime.class_names() == ["chair", "table", "lamp"]
    assert settings.class_name == "chair"

    scene.cursor.location = (1.0, 2.0, 0.0)
    settings.class_name, settings.seed, settings.variations = "table", 40, 2
    settings.quality, settings.steps, settings.alpha_threshold = "CUSTOM", 3, 0.5
    bpy.ops.ed.undo_push(message="before generate")
    assert ops.generate() == {"FINISHED"}
    a, b = bpy.data.objects["table_40"], bpy.data.objects["table_41"]
    _check_generated(a, "table", 40, "smooth")
    _check_generated(b, "table", 41, "smooth")
    assert tuple(a.location) == (1.0, 2.0, 0.0) and math.isclose(b.location.x, 1.0 + 1.25 * settings.mesh_size)

    # One undo step removes the whole generation.
    bpy.ops.ed.undo()
    assert "table_40" not in bpy.data.objects and "table_41" not in bpy.data.objects
    bpy.ops.ed.redo()
    scene = bpy.context.scene  # undo reloads the file data: RNA references taken before it are stale
    settings = scene.voxel_diffusion
    a = bpy.data.objects["table_40"]
    before = _vertices(a)

    # Regenerate: same seed, same object, in place.
    bpy.context.view_layer.objects.active = a
    a.location = (5.0, 5.0, 0.0)
    bpy.data.objects["table_40"].data.vertices[0].co = (9.0, 9.0, 9.0)  # a local edit Regenerate undoes
    assert ops.regenerate() == {"FINISHED"}
    np.testing.assert_allclose(_vertices(a), before, atol=1e-6)
    assert tuple(a.location) == (5.0, 5.0, 0.0)

    # Variation: new seed, beside the source, same settings.
    names = set(bpy.data.objects.keys())
    assert ops.variation() == {"FINISHED"}
    (new,) = set(bpy.data.objects.keys()) - names
    var = bpy.data.objects[new]
    assert var["voxel_diffusion"]["seed"] != 40 and var["voxel_diffusion"]["steps"] == 3
    assert var.location.x > a.location.x

    # Cubes are meshed locally from the voxels.
    settings.mesh_style, settings.variations, settings.seed = "cubes", 1, 7
    assert ops.generate() == {"FINISHED"}
    _check_generated(bpy.data.objects["table_7"], "table", 7, "cubes")

    # Join Parts (on by default) is stored on the object; switched off, the next object stores that.
    assert bpy.data.objects["table_7"]["voxel_diffusion"]["join_parts"]
    settings.join_parts, settings.seed = False, 8
    assert ops.generate() == {"FINISHED"}
    assert not bpy.data.objects["table_8"]["voxel_diffusion"]["join_parts"]

    # Disabling unregisters cleanly (threads stopped, properties gone).
    bpy.ops.preferences.addon_disable(module=EXT_MODULE)
    assert not hasattr(bpy.types.Scene, "voxel_diffusion")


def _tick_until(runtime, done, timeout_s: float, what: str) -> list:
    """Drive the add-on's timer callback by hand (timers never fire without an event loop) until
    `done()`; returns the progress seen after each tick. Fails if `what` did not happen in time."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        runtime.tick()
        seen.append(runtime.STATE.progress)
        time.sleep(0.02)
    return seen


def _tick_until_idle(runtime, timeout_s: float) -> list:
    return _tick_until(runtime, lambda: not runtime.job_running(), timeout_s, "the end of the job")


def background_job(zip_path: str, wheel_only: bool, port: int, checkpoint: str, server_python: str) -> None:
    """The UI path of the installed extension: worker thread + queue drained by the timer callback; undo;
    cancel; a server it started itself (`server_python`: a Python with torch) killed mid-job."""
    _install_extension(zip_path, wheel_only)
    runtime, GenerationParams = _shipped("blender.runtime"), _shipped("shared.generation").GenerationParams
    ServerAddress, LocalServer = _shipped("shared.background").ServerAddress, _shipped("shared.server_process").LocalServer
    scene_build = _shipped("blender.scene_build")
    try:
        runtime.server_address = lambda: ServerAddress("127.0.0.1", port, timeout_s=1.0, retries=1)
        scene = bpy.context.scene.name  # a name: undo invalidates RNA references

        # The UI's Connect never waits for the network: the monitor checks, the timer picks a class.
        start = time.monotonic()
        runtime.connect(scene)
        assert time.monotonic() - start < 0.5 and runtime.server_status().checking  # returned before any answer
        _tick_until(runtime, lambda: runtime.STATE.connect_scene is None, 10, "the end of the connect check")
        assert runtime.server_status().connected and runtime.STATE.message.startswith("Connected")
        assert bpy.data.scenes[scene].voxel_diffusion.class_name == "chair"
        params = GenerationParams("lamp", 3, steps=4, alpha_threshold=0.5)
        bpy.ops.ed.undo_push(message="before")
        runtime.start_job(params, 2, runtime.Target(scene, (0.0, 0.0, 0.0)), preview=True)
        seen = _tick_until_idle(runtime, 30)
        assert any(p is not None and p.total == 4 for p in seen), "no progress reached the main thread"
        assert any(p is not None and p.preview is not None and p.preview.shape[0] == 2 for p in seen)
        assert "lamp_3" in bpy.data.objects and "lamp_4" in bpy.data.objects, runtime.STATE.message
        assert scene_build.PREVIEW_NAME not in bpy.data.objects  # replaced by the result
        assert runtime.STATE.message.startswith("Generated") and not runtime.STATE.message_is_error
        bpy.ops.ed.undo()  # the timer pushed one undo step for both objects
        assert "lamp_3" not in bpy.data.objects and "lamp_4" not in bpy.data.objects

        # Cancel a long job after its first progress; its live preview shows while it runs, then goes.
        runtime.start_job(GenerationParams("lamp", 9, steps=1000), 1, runtime.Target(scene, (2.0, 0.0, 0.0)),
                          preview=True)
        _tick_until(runtime, lambda: scene_build.PREVIEW_NAME in bpy.data.objects, 30, "the live preview")
        preview = bpy.data.objects[scene_build.PREVIEW_NAME]
        assert tuple(preview.location) == (2.0, 0.0, 0.0) and preview.hide_render and not preview.get("voxel_diffusion")
        runtime.cancel_job()
        _tick_until_idle(runtime, 15)
        assert runtime.STATE.message == "Generation cancelled", runtime.STATE.message
        assert "lamp_9" not in bpy.data.objects and scene_build.PREVIEW_NAME not in bpy.data.objects

        # A server killed mid-job: a clear error within seconds, Blender keeps going.
        server = LocalServer()
        server.start(server_python, checkpoint, "127.0.0.1", 0, Path("killed_server.log").resolve(), threads=1,
                     project_folder=str(REPO))
        try:
            killed_port = int(server.wait_ready(120).rsplit(":", 1)[1])
            runtime.server_address = lambda: ServerAddress("127.0.0.1", killed_port, timeout_s=1.0, retries=1)
            runtime.start_job(GenerationParams("chair", 1, steps=1000, alpha_threshold=0.5), 1, runtime.Target(scene),
                              preview=True)
            _tick_until(runtime, lambda: scene_build.PREVIEW_NAME in bpy.data.objects, 30, "the preview before the kill")
            server.kill()
        finally:
            server.stop()
        start = time.monotonic()
        _tick_until_idle(runtime, 15)
        message = runtime.STATE.message  # the client words a server gone mid-job in one of two ways
        gone = "no Voxel Diffusion server answered" in message or "stopped answering" in message
        assert runtime.STATE.message_is_error and gone and f":{killed_port}" in message, message
        assert scene_build.PREVIEW_NAME not in bpy.data.objects  # an error removes the preview too
        print(f"killed server reported after {time.monotonic() - start:.1f} s")
    finally:
        bpy.ops.preferences.addon_disable(module=EXT_MODULE)


def two_models(zip_path: str, wheel_only: bool, port: int) -> None:
    """A server of two models: the panel offers both, the class list follows the chosen one, Generate and
    Regenerate use it, and the API takes `model=`; the model that takes a colour gets the panel's and the API's
    hue, the other refuses one."""
    _install_extension(zip_path, wheel_only)
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    ops, settings = bpy.ops.voxel_diffusion, bpy.context.scene.voxel_diffusion
    runtime = _shipped("blender.runtime")
    prefs.port, prefs.timeout = port, 5.0
    assert ops.connect() == {"FINISHED"}
    assert runtime.model_names() == ["tiny", "props"] and settings.model == "tiny" and settings.class_name == "chair"
    settings.model = "props"  # the class list follows, and the class becomes one of the model's
    assert runtime.class_names(settings.model) == ["crate", "barrel"] and settings.class_name == "crate"
    settings.seed, settings.quality, settings.steps, settings.alpha_threshold = 3, "CUSTOM", 3, 0.5
    assert runtime.takes_hue("props") and not runtime.takes_hue("tiny")
    settings.use_colour, settings.colour = True, (0.0, 0.0, 1.0)  # blue: hue 2/3
    assert ops.generate() == {"FINISHED"}
    crate = bpy.data.objects["crate_3"]
    stored = _shipped("blender.scene_build").stored_params(crate)
    assert stored.model == "props" and crate[_shipped("blender.scene_build").PARAMS_KEY]["model_name"] == "props"
    assert abs(stored.hue - 2 / 3) < 1e-6, stored.hue
    api = _shipped("blender.api")
    (barrel,) = api.generate_objects([("barrel", 1)], port=port, model="props", steps=2, alpha_threshold=0.5, hue=0.25)
    assert _shipped("blender.scene_build").stored_params(barrel).model == "props"
    assert _shipped("blender.scene_build").stored_params(barrel).hue == 0.25
    (own,) = api.generate_objects([("barrel", 1)], port=port, model="props", steps=2, alpha_threshold=0.5)
    assert _shipped("blender.scene_build").stored_params(own).hue == _shipped("shared.generation").NO_HUE
    try:
        api.generate_objects([("chair", 1)], port=port, model="tiny", steps=2, hue=0.3)
        raise AssertionError("a model without the colour condition must refuse a hue")
    except api.GenerationError as e:
        assert "takes no colour" in str(e), e
    try:  # checked before any request (GenerationParams)
        api.generate_objects([("barrel", 1)], port=port, model="props", steps=2, hue="red")
        raise AssertionError("a hue that is not a number in [0, 1] must be refused")
    except ValueError as e:
        assert "hue must be a number" in str(e), e
    settings.model = "tiny"
    assert settings.hue() == _shipped("shared.generation").NO_HUE  # the tiny model is never asked for one
    try:
        api.generate_objects([("chair", 1)], port=port, model="props", steps=2)
        raise AssertionError("a class of another model must be refused")
    except api.GenerationError as e:
        assert "crate, barrel" in str(e), e


def scripting_api(zip_path: str, wheel_only: bool, port: int, out_dir: str) -> None:
    """The documented API of the installed extension (bl_ext.user_default.voxel_diffusion.api): grid,
    scatter without overlaps, save."""
    _install_extension(zip_path, wheel_only)
    api, footprint_radius = _shipped("blender.api"), _shipped("shared.layout").footprint_radius

    assert api.server_info(port=port).class_names == ("chair", "table", "lamp")
    objs = api.generate_objects([("chair", 1), ("lamp", 2)], port=port, steps=2, alpha_threshold=0.5, location=(0, 0, 1))
    assert [o.name for o in objs] == ["chair_1", "lamp_2"] and objs[1].location.x == 1.25
    grid = api.populate_grid(["chair", "table"], seeds=[5, 6], port=port, steps=2, mesh_style="cubes", alpha_threshold=0.5,
                             origin=(0, 10, 0), spacing=2.0)
    assert [tuple(o.location) for o in grid] == [(0, 10, 0), (2, 10, 0), (0, 8, 0), (2, 8, 0)]
    scattered = api.scatter_on_plane(6, ["chair", "table", "lamp"], area=(8, 8), min_distance=0.2, seed=4,
                                     port=port, steps=2, alpha_threshold=0.5, center=(20, 0, 0))
    xy = np.array([tuple(o.location)[:2] for o in scattered])
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    assert gaps.min() >= 2 * footprint_radius(1.0) + 0.2 - 1e-6
    assert np.all(np.abs(xy - (20, 0)) <= 4 - footprint_radius(1.0) + 1e-6)
    try:
        api.generate_objects([("sofa", 1)], port=port, steps=2)
        raise AssertionError("an unknown class must fail")
    except api.GenerationError as e:
        assert "sofa" in str(e), e

    path = api.save_blend(Path(out_dir) / "scene.blend")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert bpy.data.objects["chair_1"]["voxel_diffusion"]["steps"] == 2
    assert len(bpy.data.collections["Voxel Diffusion"].objects) == 12


def _block_out(name: str, location, color=None) -> bpy.types.Object:
    """A 1 x 1 x 2 box (a tall block-out) at `location`, with a Principled material of `color` (linear RGB)."""
    mesh = bpy.data.meshes.new(name)
    v = [(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (0.0, 2.0)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(v, [], faces)
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    bpy.context.scene.collection.objects.link(obj)
    if color is not None:
        material = bpy.data.materials.new(f"{name} material")
        if bpy.app.version < (5, 0, 0):
            material.use_nodes = True
        bsdf = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.inputs["Base Color"].default_value = (*color, 1.0)
        mesh.materials.append(material)
    bpy.context.view_layer.update()
    return obj


def _raises(what: str, call, *args, errors=(ValueError,), **kwargs) -> str:
    try:
        call(*args, **kwargs)
    except errors as e:
        assert what in str(e), f"expected {what!r} in {e!r}"
        return str(e)
    raise AssertionError(f"expected an error about {what!r}")


def artist_api(zip_path: str, wheel_only: bool, port: int, out_dir: str) -> None:
    """Issue 12 through the installed extension's API: from a mesh (init reaches the server: strength 0 gives
    the voxelised block-out back), a region regenerated with everything outside kept exactly (from the stored
    grid, and from an old object's params), a blend whose ends are the two seeds' objects, palettes, .vox."""
    _install_extension(zip_path, wheel_only)
    api, sb = _shipped("blender.api"), _shipped("blender.scene_build")
    voxelize, read_vox = _shipped("shared.voxelize").voxelize, _shipped("shared.vox").read_vox
    fast = {"port": port, "steps": 3, "alpha_threshold": 0.5}

    block = _block_out("Blockout", (3.0, 0.0, 0.0), color=(1.0, 0.0, 0.0))
    kept = api.generate_from_mesh(block, "chair", strength=0.0, seed=2, **fast)
    voxels = sb.stored_voxels(kept)
    source = sb.source_mesh(block)
    expected = voxelize(source.vertices, source.triangles, 8, face_colors=source.face_colors)
    np.testing.assert_allclose(voxels, expected, atol=1e-5)  # strength 0: the start grid itself
    occupied = voxels[3] >= 0.5
    assert occupied.sum() > 0 and np.allclose(voxels[:3, occupied].T, (1.0, 0.0, 0.0), atol=1e-3)  # the red material
    assert kept.location.x > 3.5 and sb.stored_params(kept).strength == 0.0
    half = api.generate_from_mesh(block, "chair", strength=0.5, seed=2, mesh_style="cubes", **fast)
    assert half.name == "chair_2.001" or half.name.startswith("chair_2"), half.name
    assert len(half.data.polygons) > 0 and sb.stored_params(half).from_grid

    # Bad inputs: clear messages, nothing sent.
    empty = bpy.data.objects.new("Empty", None)
    bpy.context.scene.collection.objects.link(empty)
    _raises("empty object", api.generate_from_mesh, empty, "chair", port=port)
    flat = bpy.data.meshes.new("flat")
    flat.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [])
    flat_obj = bpy.data.objects.new("Flat", flat)
    bpy.context.scene.collection.objects.link(flat_obj)
    _raises("no faces", api.generate_from_mesh, flat_obj, "chair", port=port)
    _raises("strength", api.generate_from_mesh, block, "chair", strength=1.5, port=port)
    _raises("not an object Voxel Diffusion generated", api.inpaint, block, (0, 0, 0, 4, 4, 4), port=port)

    # Regenerate a region: the voxels outside the box are kept bit for bit, and one object is changed in place.
    (obj,) = api.generate_objects([("table", 4)], mesh_style="cubes", **fast)
    before = sb.stored_voxels(obj)
    _raises("inside the 8^3 grid", api.inpaint, obj, (0, 0, 0, 9, 8, 8), port=port)
    _raises("inside the 8^3 grid", api.inpaint, obj, (4, 0, 0, 4, 8, 8), port=port)
    box = (0, 0, 4, 8, 8, 8)
    assert api.inpaint(obj, box, seed=11, port=port) is obj and obj.name == "table_4"
    after = sb.stored_voxels(obj)
    outside = np.ones((8, 8, 8), bool)
    outside[0:8, 0:8, 4:8] = False
    assert np.array_equal(after[:, outside], before[:, outside])
    assert not np.array_equal(after[:, ~outside], before[:, ~outside])
    stored = sb.stored_params(obj)
    assert stored.inpainted and stored.seed == 11 and stored.from_grid
    # The mesh is the new grid's: cubes built from it.
    cubes = _shipped("shared.meshing").cube_mesh(after, 0.5, 1.0)
    assert len(obj.data.polygons) == len(cubes.faces)

    # A helper object's bounds mark the region (here the top half of the object's grid, in world space).
    helper = _block_out("Helper", (obj.location.x, obj.location.y, obj.location.z + 0.3))
    helper.scale = (3.0, 3.0, 1.0)
    bpy.context.view_layer.update()
    before = sb.stored_voxels(obj)
    api.inpaint(obj, helper, port=port)
    after = sb.stored_voxels(obj)
    # offset z: the grid's lowest occupied layer sits at the object's origin; the helper spans z 0.3..2.3
    k0 = int(np.flatnonzero((before[3] >= 0.5).any(axis=(0, 1)))[0])
    low = max(0, min(8, int(np.floor(0.3 * 8 - 0.5 + k0)) + 1))  # first layer whose centre is above 0.3
    assert np.array_equal(after[:, :, :, :low], before[:, :, :, :low]), low
    assert sb.stored_params(obj).seed == 12  # seed None: the object's seed + 1

    # Objects made before grids were stored: the grid is generated again from their params.
    (old,) = api.generate_objects([("lamp", 6)], mesh_style="cubes", **fast)
    original = sb.stored_voxels(old)
    del old[sb.VOXELS_KEY]
    assert sb.stored_voxels(old) is None
    api.inpaint(old, (0, 0, 0, 8, 8, 3), port=port)
    assert np.array_equal(sb.stored_voxels(old)[:, :, :, 3:], original[:, :, :, 3:])

    # Blend: n objects in a row; the ends are the two seeds' plain objects.
    row = api.blend("chair", 1, 2, 3, location=(0, 20, 0), **fast)
    assert [o.name for o in row] == ["chair_1-2_0", "chair_1-2_1", "chair_1-2_2"], [o.name for o in row]
    assert [o.location.x for o in row] == [0.0, 1.25, 2.5]
    ends = api.generate_objects([("chair", 1), ("chair", 2)], **fast)
    np.testing.assert_allclose(sb.stored_voxels(row[0]), sb.stored_voxels(ends[0]), atol=1e-5)
    np.testing.assert_allclose(sb.stored_voxels(row[2]), sb.stored_voxels(ends[1]), atol=1e-5)
    assert not np.allclose(sb.stored_voxels(row[1]), sb.stored_voxels(ends[0]), atol=1e-3)
    assert sb.stored_params(row[1]).blend_index == 1 and sb.stored_params(row[1]).blend_count == 3
    _raises("1 to 16", api.blend, "chair", 1, 2, 0, port=port)

    # Palettes: snapped before meshing, in both styles.
    (cubes2,) = api.generate_objects([("chair", 5)], mesh_style="cubes", palette=2, **fast)
    v = sb.stored_voxels(cubes2)
    assert len(np.unique(v[:3, v[3] >= 0.5].T, axis=0)) <= 2
    (smooth,) = api.generate_objects([("chair", 5)], mesh_style="smooth", palette="gameboy", **fast)
    gameboy = _shipped("shared.palette").PRESETS["gameboy"]
    colors = np.zeros(len(smooth.data.vertices) * 4, np.float32)
    smooth.data.color_attributes["Color"].data.foreach_get("color", colors)
    srgb = _shipped("shared.colors").linear_to_srgb(colors.reshape(-1, 4)[:, :3])
    assert np.abs(srgb[:, None, :] - gameboy[None]).max(-1).min(1).max() < 2e-3  # every vertex a palette colour
    _raises("unknown palette", api.generate_objects, [("chair", 1)], palette="sepia", port=port)

    # Export .vox and read it back.
    path = api.export_vox(cubes2, Path(out_dir) / "chair.vox")
    grid, palette = read_vox(path)
    occ = v[3] >= 0.5
    assert grid.shape == (4, 8, 8, 8) and np.array_equal(grid[3] > 0, occ)
    np.testing.assert_allclose(grid[:3, occ], np.rint(v[:3, occ] * 255) / 255, atol=1e-6)
    grid, _ = read_vox(api.export_vox(kept, Path(out_dir) / "pico.vox", palette="pico8"))
    assert np.array_equal(grid[3] > 0, kept_occ := sb.stored_voxels(kept)[3] >= 0.5) and kept_occ.any()
    _raises("not an object Voxel Diffusion generated", api.export_vox, block, Path(out_dir) / "x.vox")

    # A .vox as the block-out: strength 0 gives back its voxels (the tiny model is pixel space: exact).
    back = api.generate_from_vox(path, "table", strength=0.0, port=port, steps=2, mesh_style="cubes",
                                 alpha_threshold=0.5, location=(0, -6, 0))
    source, _ = read_vox(path)
    assert np.array_equal(sb.stored_voxels(back)[3] >= 0.5, source[3] > 0) and sb.stored_params(back).strength == 0.0
    (Path(out_dir) / "bad.vox").write_bytes(b"VOX nonsense")
    _raises("truncated", api.generate_from_vox, Path(out_dir) / "bad.vox", "table", port=port)


def _select(active, *others) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    for o in (*others, active):
        o.select_set(True)
    bpy.context.view_layer.objects.active = active


def _operator_error(call, what: str) -> None:
    """An operator that refuses: Blender raises its poll message or ERROR report; the panel shows the latter."""
    try:
        call()
    except RuntimeError as e:
        assert what in str(e), e
        return
    raise AssertionError(f"expected the operator to refuse with {what!r}")


def artist_operators(zip_path: str, wheel_only: bool, port: int, out_dir: str) -> None:
    """The issue-12 operators of the installed extension against the real server (blocking path, as under
    `blender -b`), then a region job on the UI path (worker thread + timer, progress, cancel)."""
    _install_extension(zip_path, wheel_only)
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    ops, settings = bpy.ops.voxel_diffusion, bpy.context.scene.voxel_diffusion
    runtime, sb = _shipped("blender.runtime"), _shipped("blender.scene_build")
    prefs.port, prefs.timeout = port, 5.0
    assert ops.connect() == {"FINISHED"}
    settings.class_name, settings.seed, settings.quality, settings.steps = "chair", 3, "CUSTOM", 3
    settings.alpha_threshold, settings.mesh_style = 0.5, "cubes"

    # Generate from Selected: the block-out's voxels at strength 0, beside it.
    block = _block_out("Blockout", (0.0, 5.0, 0.0), color=(0.0, 0.0, 1.0))
    _select(block)
    settings.strength = 0.0
    assert ops.generate_from_selected() == {"FINISHED"}
    obj = bpy.data.objects["chair_3"]
    voxels = sb.stored_voxels(obj)
    occupied = voxels[3] >= 0.5
    assert occupied.any() and np.allclose(voxels[:3, occupied].T, (0.0, 0.0, 1.0), atol=1e-3)
    assert obj.location.x > 0.5 and math.isclose(obj.location.y, 5.0, abs_tol=1e-6)
    assert sb.stored_params(obj).strength == 0.0
    settings.strength = 0.5
    _select(block)
    assert ops.generate_from_selected() == {"FINISHED"}
    empty = bpy.data.objects.new("Empty", None)
    bpy.context.scene.collection.objects.link(empty)
    _select(empty)
    _operator_error(ops.generate_from_selected, "Select a mesh")

    # Regenerate Region (box): outside kept exactly; a box outside the grid is refused with a message.
    _select(obj)
    _operator_error(ops.regenerate, "made from a grid")  # its params alone cannot make it again
    settings.region_min, settings.region_max = (0, 0, 4), (256, 256, 256)  # To beyond the grid: to its edge
    assert ops.regenerate_region() == {"FINISHED"}
    after = sb.stored_voxels(obj)
    np.testing.assert_array_equal(after[:, :, :, :4], voxels[:, :, :, :4])
    assert sb.stored_params(obj).inpainted and sb.stored_params(obj).seed == 4 and obj.name == "chair_3"
    settings.region_min = (8, 0, 0)
    _operator_error(ops.regenerate_region, "inside the 8^3 grid")
    assert runtime.STATE.message_is_error and "inside the 8^3 grid" in runtime.STATE.message

    # Regenerate Region (helper): the other selected object's bounds.
    settings.region_mode = "HELPER"
    _operator_error(ops.regenerate_region, "select one helper")
    helper = _block_out("Helper", (obj.location.x, obj.location.y, obj.location.z + 0.55))
    helper.scale = (2.0, 2.0, 1.0)
    bpy.context.view_layer.update()
    before = sb.stored_voxels(obj)
    _select(obj, helper)
    assert ops.regenerate_region() == {"FINISHED"}
    np.testing.assert_array_equal(sb.stored_voxels(obj)[:, :, :, :4], before[:, :, :, :4])  # below the helper

    # Blend: a row of 3; Regenerate one in-between (with its row) gives it back exactly.
    settings.seed, settings.blend_seed, settings.blend_count = 1, 2, 3
    scene = bpy.context.scene
    scene.cursor.location = (0.0, -10.0, 0.0)
    assert ops.blend() == {"FINISHED"}
    row = [bpy.data.objects[f"chair_1-2_{i}"] for i in range(3)]
    assert [o.location.x for o in row] == [0.0, 1.25, 2.5]
    middle = sb.stored_voxels(row[1])
    _select(row[1])
    assert ops.regenerate() == {"FINISHED"}
    np.testing.assert_allclose(sb.stored_voxels(row[1]), middle, atol=1e-6)
    assert sb.stored_params(row[1]).blend_index == 1

    # Palette: K colours, before meshing.
    settings.palette_mode, settings.palette_colours, settings.seed = "COLOURS", 2, 9
    assert ops.generate() == {"FINISHED"}
    snapped = bpy.data.objects["chair_9"]
    v = sb.stored_voxels(snapped)
    assert len(np.unique(v[:3, v[3] >= 0.5].T, axis=0)) <= 2 and sb.stored_params(snapped).palette == "2"

    # Export .vox, read back.
    settings.palette_mode = "NONE"
    _select(snapped)
    path = Path(out_dir) / "chair_9.vox"
    assert ops.export_vox(filepath=str(path)) == {"FINISHED"}
    grid, _ = _shipped("shared.vox").read_vox(path)
    assert np.array_equal(grid[3] > 0, v[3] >= 0.5)
    np.testing.assert_allclose(grid[:3, v[3] >= 0.5], np.rint(v[:3, v[3] >= 0.5] * 255) / 255, atol=1e-6)
    _select(block)
    _operator_error(lambda: ops.export_vox(filepath=str(path)), "not generated by Voxel Diffusion")

    # Generate from .vox (the exported file as the block-out), at the 3D cursor.
    scene.cursor.location = (0.0, -9.0, 0.0)
    settings.strength, settings.seed = 0.0, 31
    assert ops.generate_from_vox(filepath=str(path)) == {"FINISHED"}
    from_vox = bpy.data.objects[f"{settings.class_name}_31"]
    assert np.array_equal(sb.stored_voxels(from_vox)[3] >= 0.5, grid[3] > 0)
    assert tuple(from_vox.location) == (0.0, -9.0, 0.0)
    (Path(out_dir) / "bad.vox").write_bytes(b"not a vox file")
    _operator_error(lambda: ops.generate_from_vox(filepath=str(Path(out_dir) / "bad.vox")), "Cannot use")

    # The UI path: a region job on the worker thread, applied by the timer; then one cancelled after its progress.
    StartGrid, replace = _shipped("shared.generation").StartGrid, __import__("dataclasses").replace
    params, grid_voxels = sb.stored_params(snapped), sb.stored_voxels(snapped)
    region = _shipped("shared.generation").region_box((0, 0, 0, 8, 8, 3), 8)
    runtime.start_job(replace(params, seed=77, inpainted=True), 1,
                      runtime.Target(scene.name, tuple(snapped.location), replace=snapped.name),
                      grid=StartGrid(grid_voxels, region))
    _tick_until_idle(runtime, 30)  # (3 steps: progress and result may arrive in one tick; the cancel below sees it)
    assert runtime.STATE.message.startswith("Generated"), runtime.STATE.message
    np.testing.assert_array_equal(sb.stored_voxels(snapped)[:, ~region], grid_voxels[:, ~region])
    runtime.start_job(replace(params, seed=78, inpainted=True, steps=1000), 1,
                      runtime.Target(scene.name, replace=snapped.name), grid=StartGrid(grid_voxels, region))
    _tick_until(runtime, lambda: runtime.STATE.progress is not None, 30, "progress before the cancel")
    runtime.cancel_job()
    _tick_until_idle(runtime, 15)
    assert runtime.STATE.message == "Generation cancelled" and sb.stored_params(snapped).seed == 77
    # A start grid that cannot be made (voxelize refuses the mesh on the worker thread), or that the server
    # refuses: a message in the panel, not a traceback.
    def no_inside(model):
        raise ValueError("the mesh encloses no voxel at resolution 8")

    runtime.start_job(replace(params.plain(), strength=0.5), 1, runtime.Target(scene.name), grid=no_inside)
    _tick_until_idle(runtime, 15)
    assert runtime.STATE.message_is_error and "encloses no voxel" in runtime.STATE.message, runtime.STATE.message
    runtime.start_job(replace(params.plain(), strength=0.5), 1, runtime.Target(scene.name),
                      grid=StartGrid(np.zeros((4, 16, 16, 16), np.float32)))
    _tick_until_idle(runtime, 15)
    assert runtime.STATE.message_is_error and "model's resolution" in runtime.STATE.message, runtime.STATE.message
    bpy.ops.preferences.addon_disable(module=EXT_MODULE)


def synthetic_build() -> None:
    """scene_build from known voxels: counts and colours match the mesh arrays exactly."""
    sys.path.insert(0, str(REPO))
    from blender_addon.blender import scene_build
    from blender_addon.shared.colors import srgb_to_linear
    from blender_addon.shared.generation import GenerationParams
    from blender_addon.shared.meshing import cube_mesh

    vox = np.zeros((4, 4, 4, 4), np.float32)
    vox[:, 1, 1, 1] = (1.0, 0.5, 0.0, 1.0)
    vox[:, 2, 1, 1] = (0.0, 0.0, 1.0, 1.0)
    arrays = cube_mesh(vox, size=2.0)
    col = scene_build.voxel_collection(bpy.context.scene)
    obj = scene_build.build_object(arrays, GenerationParams("box", 0, mesh_style="cubes"), collection=col)
    assert len(obj.data.vertices) == 12 and len(obj.data.polygons) == 10 and len(obj.data.loops) == 40
    colors = np.zeros(40 * 4, np.float32)
    obj.data.color_attributes["Color"].data.foreach_get("color", colors)
    expected = np.repeat(arrays.face_colors, 4, axis=0)
    np.testing.assert_allclose(colors.reshape(-1, 4)[:, :3], srgb_to_linear(expected[:, :3]), atol=1e-6)
    assert not obj.data.validate()  # nothing to fix
    assert scene_build.stored_params(obj) == GenerationParams("box", 0, mesh_style="cubes")


if __name__ == "__main__":
    globals()[sys.argv[1]](**json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))
    print("SCENARIO OK")
