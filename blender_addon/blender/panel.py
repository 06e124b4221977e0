"""The "Voxel Diffusion" tab of the 3D Viewport sidebar."""
from __future__ import annotations

import bpy

from . import runtime, scene_build


class VOXELDIFF_PT_main(bpy.types.Panel):
    bl_label = "Voxel Diffusion"
    bl_idname = "VOXELDIFF_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Voxel Diffusion"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.voxel_diffusion
        status = runtime.server_status()

        box = layout.box()
        row = box.row()
        if status.checking:
            row.label(text="Checking…", icon="SORTTIME")
        else:
            row.label(text="Connected" if status.connected else "Server unavailable",
                      icon="CHECKMARK" if status.connected else "ERROR")
        row.operator("voxel_diffusion.connect", text="", icon="FILE_REFRESH")
        for text in status.lines():
            for line in _wrap(text, 40):
                box.label(text=line)

        col = layout.column()
        col.enabled = not runtime.job_running()
        if len(runtime.model_names()) > 1:
            col.prop(settings, "model")
        col.prop(settings, "class_name")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.operator("voxel_diffusion.randomize_seed", text="", icon="FILE_REFRESH")
        row.prop(settings, "random_seed", text="", icon="MOD_NOISE")
        col.prop(settings, "variations")
        col.prop(settings, "live_preview")
        col.prop(settings, "quality")
        if settings.quality == "CUSTOM":
            sub = col.column(align=True)
            sub.prop(settings, "steps")
            sub.prop(settings, "sampler")
        col.prop(settings, "guidance")
        if runtime.takes_hue(settings.model):
            row = col.row(align=True)
            row.prop(settings, "use_colour")
            row.prop(settings, "colour", text="")
        col.row().prop(settings, "mesh_style", expand=True)
        col.prop(settings, "alpha_threshold")
        col.prop(settings, "join_parts")
        col.prop(settings, "mesh_size")
        row = col.row(align=True)
        row.prop(settings, "palette_mode", text="Palette")
        if settings.palette_mode == "COLOURS":
            row.prop(settings, "palette_colours", text="")
        elif settings.palette_mode == "PRESET":
            row.prop(settings, "palette_preset", text="")

        if runtime.job_running():
            progress = runtime.STATE.progress
            text = f"Step {progress.step}/{progress.total}" if progress else "Waiting for the server…"
            layout.progress(factor=progress.fraction if progress else 0.0, type="BAR", text=text)
            layout.operator("voxel_diffusion.cancel", icon="CANCEL")
        else:
            layout.operator("voxel_diffusion.generate", icon="MESH_ICOSPHERE")
            row = layout.row(align=True)
            row.prop(settings, "strength", slider=True)
            row.operator("voxel_diffusion.generate_from_selected", text="From Selected", icon="MOD_REMESH")
            row.operator("voxel_diffusion.generate_from_vox", text="From .vox", icon="FILE_VOLUME")
            row = layout.row(align=True)
            row.prop(settings, "blend_seed")
            row.prop(settings, "blend_count")
            row.operator("voxel_diffusion.blend", text="Blend", icon="IPO_EASE_IN_OUT")
        if runtime.STATE.message:
            for line in _wrap(runtime.STATE.message, 40):
                layout.label(text=line, icon="ERROR" if runtime.STATE.message_is_error else "INFO")


class VOXELDIFF_PT_object(bpy.types.Panel):
    bl_label = "Generated Object"
    bl_parent_id = "VOXELDIFF_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Voxel Diffusion"

    @classmethod
    def poll(cls, context):
        return scene_build.stored_params(context.active_object) is not None

    def draw(self, context):
        params = scene_build.stored_params(context.active_object)
        col = self.layout.column(align=True)
        col.label(text=f"{params.class_name}, seed {params.seed}")
        col.label(text=f"{params.steps} {params.sampler.upper()} steps, guidance {params.guidance:g}")
        col.label(text=f"{params.mesh_style}, threshold {params.alpha_threshold:g}, size {params.mesh_size:g}")
        edits = [f"strength {params.strength:g}" if params.strength < 1 else "",
                 "region regenerated" if params.inpainted else "",
                 f"blend to seed {params.blend_seed}: {params.blend_index + 1} of {params.blend_count}" if params.is_blend else "",
                 f"palette {params.palette}" if params.palette else ""]
        if any(edits):
            col.label(text=", ".join(e for e in edits if e))
        row = self.layout.row(align=True)
        row.operator("voxel_diffusion.regenerate", icon="FILE_REFRESH")
        row.operator("voxel_diffusion.variation", icon="DUPLICATE")

        settings = context.scene.voxel_diffusion
        box = self.layout.box()
        box.row().prop(settings, "region_mode", expand=True)
        if settings.region_mode == "BOX":
            box.prop(settings, "region_min")
            box.prop(settings, "region_max")
        else:
            box.label(text="Select the helper, then this object (active)")
        box.operator("voxel_diffusion.regenerate_region", icon="SELECT_SUBTRACT")
        self.layout.operator("voxel_diffusion.export_vox", icon="EXPORT")


def _wrap(text: str, width: int) -> list[str]:
    """Split a message into label-sized lines (labels do not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


classes = (VOXELDIFF_PT_main, VOXELDIFF_PT_object)
