"""Operators: Generate, Generate from Selected, Blend, Cancel, Regenerate, Regenerate Region, Variation,
Export .vox, Connect, Randomize Seed, local server start/stop.

In the UI a generation runs on a worker thread and the timer in `runtime` applies the result as one
undo step. Under `blender -b` (no timers) the same operators block until the result is in.
"""
from __future__ import annotations

import random
from dataclasses import replace

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import runtime, scene_build
from .properties import MAX_PANEL_SEED
from ..shared.generation import GenerationParams, GridSource, StartGrid, region_box, vox_source
from ..shared.vox import read_vox
from ..shared.background import DoneEvent, FailedEvent, run_generation


def _settings(context):
    return context.scene.voxel_diffusion


def _can_generate(cls, context, needs_class: bool = True) -> bool:
    if runtime.job_running():
        cls.poll_message_set("A generation is already running (Cancel it first)")
        return False
    if bpy.app.background:
        return True  # scripts: the blocking call reports server problems itself
    status = runtime.server_status()
    if not status.connected:
        cls.poll_message_set(f"No server: {status.reason}")
        return False
    if needs_class and _settings(context).class_name not in runtime.class_names():
        cls.poll_message_set("Pick a class the server knows")
        return False
    return True


def _run(operator, context, params: GenerationParams, count: int, target: runtime.Target,
         grid: StartGrid | GridSource | None = None) -> set[str]:
    """Start the job (UI) or run it to the end (background); report in the status bar."""
    if not bpy.app.background:
        runtime.start_job(params, count, target, grid, preview=_settings(context).live_preview)
        operator.report({"INFO"}, f"Generating {params.class_name} (seed {params.seed})…")
        return {"FINISHED"}
    event = run_generation(runtime.server_address(), params, count, grid=grid)
    if isinstance(event, DoneEvent):
        objects = runtime.apply_result(event, target)
        operator.report({"INFO"}, "Generated " + ", ".join(o.name for o in objects))
        return {"FINISHED"}
    operator.report({"ERROR"}, event.message if isinstance(event, FailedEvent) else "Generation cancelled")
    return {"CANCELLED"}


def _refuse(operator, message: str) -> set[str]:
    """A bad input found before any job started: said in the panel and the status bar, no traceback."""
    runtime.show_message(message, error=True)
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


def _random_seed() -> int:
    return random.SystemRandom().randint(0, MAX_PANEL_SEED)


class VOXELDIFF_OT_generate(bpy.types.Operator):
    """Generate voxel objects of the chosen class at the 3D cursor"""

    bl_idname = "voxel_diffusion.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER"}  # the result is committed as its own undo step when it arrives

    @classmethod
    def poll(cls, context):
        return _can_generate(cls, context)

    def execute(self, context):
        settings = _settings(context)
        if settings.random_seed:
            settings.seed = _random_seed()
        target = runtime.Target(context.scene.name, tuple(context.scene.cursor.location))
        return _run(self, context, settings.params(), settings.variations, target)


def _params_from_grid(settings) -> GenerationParams:
    """The panel's parameters for an object grown from a grid, at its Strength (a new seed first if asked)."""
    if settings.random_seed:
        settings.seed = _random_seed()
    return replace(settings.params(), strength=settings.strength)


class VOXELDIFF_OT_generate_from_selected(bpy.types.Operator):
    """Generate an object of the chosen class from the active mesh (a block-out), at the Strength; beside it"""

    bl_idname = "voxel_diffusion.generate_from_selected"
    bl_label = "Generate from Selected"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type not in scene_build.GEOMETRY_TYPES:
            cls.poll_message_set("Select a mesh to start from (a block-out, an earlier result)")
            return False
        return _can_generate(cls, context)

    def execute(self, context):
        settings = _settings(context)
        try:  # the mesh is read here (bpy); it is voxelised on the job's thread at the server model's grid
            source = scene_build.source_mesh(context.active_object)
            params = _params_from_grid(settings)
        except ValueError as e:
            return _refuse(self, str(e))
        location = scene_build.beside(source.bounds, params.mesh_size)
        return _run(self, context, params, settings.variations, runtime.Target(context.scene.name, location),
                    grid=source.start_grid)


class VOXELDIFF_OT_generate_from_vox(ImportHelper, bpy.types.Operator):
    """Generate an object of the chosen class from a MagicaVoxel .vox model (a block-out), at the Strength, at the
    3D cursor"""

    bl_idname = "voxel_diffusion.generate_from_vox"
    bl_label = "Generate from .vox"
    bl_options = {"REGISTER"}
    filename_ext = ".vox"
    filter_glob: bpy.props.StringProperty(default="*.vox", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _can_generate(cls, context)

    def execute(self, context):
        settings, path = _settings(context), bpy.path.abspath(self.filepath)
        try:  # checked here, read again at the model's grid on the job's thread
            read_vox(path)
        except (ValueError, OSError) as e:
            return _refuse(self, f"Cannot use {path} as a block-out: {e}")
        params = _params_from_grid(settings)
        target = runtime.Target(context.scene.name, tuple(context.scene.cursor.location))
        return _run(self, context, params, settings.variations, target, grid=vox_source(path))


class VOXELDIFF_OT_blend(bpy.types.Operator):
    """A row of objects morphing from Seed's object to To Seed's, at the 3D cursor"""

    bl_idname = "voxel_diffusion.blend"
    bl_label = "Blend"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return _can_generate(cls, context)

    def execute(self, context):
        settings = _settings(context)
        params = replace(settings.params(), blend_seed=settings.blend_seed, blend_count=settings.blend_count)
        target = runtime.Target(context.scene.name, tuple(context.scene.cursor.location))
        return _run(self, context, params, params.count, target)


class VOXELDIFF_OT_cancel(bpy.types.Operator):
    """Cancel the running generation"""

    bl_idname = "voxel_diffusion.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        if not runtime.job_running():
            cls.poll_message_set("Nothing is being generated")
            return False
        return True

    def execute(self, context):
        runtime.cancel_job()
        return {"FINISHED"}


class _FromActiveObject:
    needs_params_only = False  # True: the object's params must describe it fully (no start grid)

    @classmethod
    def poll(cls, context):
        params = scene_build.stored_params(context.active_object)
        if params is None:
            cls.poll_message_set("The active object was not generated by Voxel Diffusion")
            return False
        if cls.needs_params_only and params.from_grid:
            cls.poll_message_set("The active object was made from a grid (a mesh or a region edit): its settings "
                                 "alone cannot make it again")
            return False
        return _can_generate(cls, context, needs_class=False)


class VOXELDIFF_OT_regenerate(_FromActiveObject, bpy.types.Operator):
    """Generate the active object again from its stored settings (same seed: same object)"""

    bl_idname = "voxel_diffusion.regenerate"
    bl_label = "Regenerate"
    bl_options = {"REGISTER"}
    needs_params_only = True

    def execute(self, context):
        obj = context.active_object
        params = scene_build.stored_params(obj)  # a blend's in-between comes with its whole row
        target = runtime.Target(context.scene.name, tuple(obj.location), replace=obj.name, pick=params.blend_index)
        return _run(self, context, params, params.count, target)


class VOXELDIFF_OT_regenerate_region(_FromActiveObject, bpy.types.Operator):
    """Generate the voxels of the region again (the box, or the other selected object's bounds); every other
    voxel of the active object stays exactly as it is"""

    bl_idname = "voxel_diffusion.regenerate_region"
    bl_label = "Regenerate Region"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings, obj = _settings(context), context.active_object
        params, voxels = scene_build.stored_params(obj), scene_build.stored_voxels(obj)
        if voxels is None:
            return _refuse(self, f"{obj.name} stores no voxel grid (made by an older version): Regenerate it first")
        try:
            if settings.region_mode == "HELPER":
                helpers = [o for o in context.selected_objects if o != obj]
                if len(helpers) != 1:
                    raise ValueError("select one helper (a cube or an empty over the part) and the generated object, "
                                     "the generated one active")
                box = scene_build.region_of(obj, voxels, params, helpers[0])
            else:
                box = settings.region_box(voxels.shape[1])
            region = region_box(box, voxels.shape[1])
        except ValueError as e:
            return _refuse(self, str(e))
        seed = _random_seed() if settings.random_seed else (params.seed + 1) % (MAX_PANEL_SEED + 1)
        new = replace(params.plain(), seed=seed, inpainted=True)
        target = runtime.Target(context.scene.name, tuple(obj.location), replace=obj.name)
        return _run(self, context, new, 1, target, grid=StartGrid(voxels, region))


class VOXELDIFF_OT_export_vox(ExportHelper, bpy.types.Operator):
    """Write the active generated object's voxels as a MagicaVoxel .vox file (with the panel's palette)"""

    bl_idname = "voxel_diffusion.export_vox"
    bl_label = "Export .vox"
    filename_ext = ".vox"
    filter_glob: bpy.props.StringProperty(default="*.vox", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        if scene_build.stored_params(context.active_object) is None:
            cls.poll_message_set("The active object was not generated by Voxel Diffusion")
            return False
        if scene_build.stored_voxels(context.active_object) is None:
            cls.poll_message_set("The active object stores no voxel grid (made by an older version): Regenerate it")
            return False
        return True

    def invoke(self, context, event):
        self.filepath = bpy.path.clean_name(context.active_object.name) + ".vox"
        return super().invoke(context, event)

    def execute(self, context):
        obj, settings = context.active_object, _settings(context)
        params, voxels = scene_build.stored_params(obj), scene_build.stored_voxels(obj)
        try:  # local and quick (a snap of R^3 voxels and a small file): no server, no job
            path = scene_build.export_vox(bpy.path.abspath(self.filepath), voxels, params, settings.palette())
        except (ValueError, OSError) as e:
            return _refuse(self, f"Could not export {obj.name}: {e}")
        runtime.show_message(f"Exported {obj.name} to {path}")
        self.report({"INFO"}, f"Exported {path}")
        return {"FINISHED"}


class VOXELDIFF_OT_variation(_FromActiveObject, bpy.types.Operator):
    """A new object like the active one with a new seed, placed beside it"""

    bl_idname = "voxel_diffusion.variation"
    bl_label = "Variation"
    bl_options = {"REGISTER"}

    def execute(self, context):
        obj = context.active_object
        params = scene_build.stored_params(obj).plain().with_seed(_random_seed())
        x, y, z = obj.location
        target = runtime.Target(context.scene.name, (x + 1.25 * params.mesh_size, y, z))
        return _run(self, context, params, 1, target)


class VOXELDIFF_OT_connect(bpy.types.Operator):
    """Check the server now and refresh its class list"""

    bl_idname = "voxel_diffusion.connect"
    bl_label = "Connect"

    def execute(self, context):
        if not bpy.app.background:  # the UI never waits for the network: the monitor thread checks
            runtime.connect(context.scene.name)
            address = runtime.server_address()
            self.report({"INFO"}, f"Checking the server at {address.host}:{address.port}…")
            return {"FINISHED"}
        status = runtime.check_server_now()
        runtime.refresh_server()
        if not status.connected:
            self.report({"WARNING"}, f"No server: {status.reason}")
            return {"CANCELLED"}
        runtime.pick_known_class(_settings(context), status)
        self.report({"INFO"}, f"Connected: {status.reason}")
        return {"FINISHED"}


class VOXELDIFF_OT_randomize_seed(bpy.types.Operator):
    """Pick a random seed"""

    bl_idname = "voxel_diffusion.randomize_seed"
    bl_label = "Randomize Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        _settings(context).seed = _random_seed()
        return {"FINISHED"}


class VOXELDIFF_OT_start_server(bpy.types.Operator):
    """Start the local server configured in the preferences (stopped again when Blender exits)"""

    bl_idname = "voxel_diffusion.start_server"
    bl_label = "Start Local Server"

    def execute(self, context):
        try:
            runtime.start_local_server()
        except (OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, runtime.LOCAL_SERVER.describe())
        return {"FINISHED"}


class VOXELDIFF_OT_stop_server(bpy.types.Operator):
    """Stop the local server started by the add-on"""

    bl_idname = "voxel_diffusion.stop_server"
    bl_label = "Stop Local Server"

    @classmethod
    def poll(cls, context):
        if not runtime.LOCAL_SERVER.running:
            cls.poll_message_set("No local server is running")
            return False
        return True

    def execute(self, context):
        runtime.LOCAL_SERVER.stop(wait=False)
        runtime.refresh_server()
        return {"FINISHED"}


classes = (
    VOXELDIFF_OT_generate,
    VOXELDIFF_OT_generate_from_selected,
    VOXELDIFF_OT_generate_from_vox,
    VOXELDIFF_OT_blend,
    VOXELDIFF_OT_cancel,
    VOXELDIFF_OT_regenerate,
    VOXELDIFF_OT_regenerate_region,
    VOXELDIFF_OT_export_vox,
    VOXELDIFF_OT_variation,
    VOXELDIFF_OT_connect,
    VOXELDIFF_OT_randomize_seed,
    VOXELDIFF_OT_start_server,
    VOXELDIFF_OT_stop_server,
)
