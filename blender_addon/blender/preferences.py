"""Add-on preferences: where the server is, and optionally how to start a local one."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import ADDON_PACKAGE, runtime
from ..shared.client import DEFAULT_TIMEOUT_S
from ..shared.protocol import DEFAULT_PORT


class VoxelDiffusionPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    host: StringProperty(name="Host", default="127.0.0.1")
    port: IntProperty(name="Port", default=DEFAULT_PORT, min=1, max=65535)
    timeout: FloatProperty(name="Timeout", description="Seconds without an answer before the server counts as gone "
                                       "(a job with no news for 20 times this is given up as lost)",
                           default=DEFAULT_TIMEOUT_S, min=0.5, max=600.0, unit="TIME_ABSOLUTE")
    python_path: StringProperty(name="Python", subtype="FILE_PATH",
                                description="Python of an environment with voxel-diffusion installed (optional)")
    checkpoint: StringProperty(name="Checkpoint", subtype="FILE_PATH", description="Model checkpoint to serve")
    project_folder: StringProperty(name="Project Folder", subtype="DIR_PATH",
                                   description="Source checkout to run the server from (optional: not needed "
                                               "when the package is installed in that Python's environment)")
    threads: IntProperty(name="Threads", default=0, min=0, max=256,
                         description="CPU threads for the local server (0: all cores but one)")
    auto_start: BoolProperty(name="Start With Blender", default=False,
                             description="Start the local server when the add-on is enabled; it stops with Blender")

    def draw(self, context):
        layout = self.layout
        col = layout.column(heading="Server")
        col.prop(self, "host")
        col.prop(self, "port")
        col.prop(self, "timeout")
        box = layout.box()
        box.label(text="Local server (optional)")
        box.prop(self, "python_path")
        box.prop(self, "checkpoint")
        box.prop(self, "project_folder")
        box.prop(self, "threads")
        box.prop(self, "auto_start")
        row = box.row()
        row.operator("voxel_diffusion.start_server", icon="PLAY")
        row.operator("voxel_diffusion.stop_server", icon="PAUSE")
        box.label(text=runtime.LOCAL_SERVER.describe())


classes = (VoxelDiffusionPreferences,)
