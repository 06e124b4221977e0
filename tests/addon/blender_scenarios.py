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
        runtime.start_job(params, 2, runtime.Target(scene, (0.0, 0.0, 0.0)))
        seen = _tick_until_idle(runtime, 30)
        assert any(p is not None and p.total == 4 for p in seen), "no progress reached the main thread"
        assert "lamp_3" in bpy.data.objects and "lamp_4" in bpy.data.objects, runtime.STATE.message
        assert runtime.STATE.message.startswith("Generated") and not runtime.STATE.message_is_error
        bpy.ops.ed.undo()  # the timer pushed one undo step for both objects
        assert "lamp_3" not in bpy.data.objects and "lamp_4" not in bpy.data.objects

        # Cancel a long job after its first progress.
        runtime.start_job(GenerationParams("lamp", 9, steps=1000), 1, runtime.Target(scene))
        _tick_until(runtime, lambda: runtime.STATE.progress is not None, 30, "progress before the cancel")
        runtime.cancel_job()
        _tick_until_idle(runtime, 15)
        assert runtime.STATE.message == "Generation cancelled", runtime.STATE.message
        assert "lamp_9" not in bpy.data.objects

        # A server killed mid-job: a clear error within seconds, Blender keeps going.
        server = LocalServer()
        server.start(server_python, checkpoint, "127.0.0.1", 0, Path("killed_server.log").resolve(), threads=1,
                     project_folder=str(REPO))
        try:
            killed_port = int(server.wait_ready(120).rsplit(":", 1)[1])
            runtime.server_address = lambda: ServerAddress("127.0.0.1", killed_port, timeout_s=1.0, retries=1)
            runtime.start_job(GenerationParams("chair", 1, steps=1000, alpha_threshold=0.5), 1, runtime.Target(scene))
            _tick_until(runtime, lambda: runtime.STATE.progress is not None, 30, "progress before the kill")
            server.kill()
        finally:
            server.stop()
        start = time.monotonic()
        _tick_until_idle(runtime, 15)
        message = runtime.STATE.message  # the client words a server gone mid-job in one of two ways
        gone = "no Voxel Diffusion server answered" in message or "stopped answering" in message
        assert runtime.STATE.message_is_error and gone and f":{killed_port}" in message, message
        print(f"killed server reported after {time.monotonic() - start:.1f} s")
    finally:
        bpy.ops.preferences.addon_disable(module=EXT_MODULE)


def two_models(zip_path: str, wheel_only: bool, port: int) -> None:
    """A server of two models: the panel offers both, the class list follows the chosen one, Generate and
    Regenerate use it, and the API takes `model=`."""
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
    assert ops.generate() == {"FINISHED"}
    crate = bpy.data.objects["crate_3"]
    stored = _shipped("blender.scene_build").stored_params(crate)
    assert stored.model == "props" and crate[_shipped("blender.scene_build").PARAMS_KEY]["model_name"] == "props"
    api = _shipped("blender.api")
    (barrel,) = api.generate_objects([("barrel", 1)], port=port, model="props", steps=2, alpha_threshold=0.5)
    assert _shipped("blender.scene_build").stored_params(barrel).model == "props"
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
