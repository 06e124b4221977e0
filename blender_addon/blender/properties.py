"""Scene settings of the Voxel Diffusion panel: one PropertyGroup on `Scene.voxel_diffusion`.

What generated an object is stored on the object itself (see scene_build.store_params).
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, IntVectorProperty,
                       PointerProperty)

from . import runtime
from ..shared.colors import hue_of
from ..shared.generation import NO_HUE, QUALITY_PRESETS, GenerationParams, preset_steps
from ..shared.palette import PRESETS
from ..shared.settings import DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_JOIN_PARTS, DEFAULT_MAX_STEPS, DEFAULT_SAMPLER, DEFAULT_STEPS, MAX_GUIDANCE

MAX_PANEL_SEED = 2**31 - 1
"""Blender's IntProperty is a signed 32-bit int, so the panel offers seeds 0..2^31-1 (the protocol takes up to 2^32-1)."""

_class_items_cache: list[tuple[str, str, str]] = []  # Blender needs Python to keep enum strings alive
_model_items_cache: list[tuple[str, str, str]] = []
NO_MODEL = "NONE"


def _model_items(self, context):
    info = runtime.server_status().info
    items = [(m.name, m.name, f"{m.resolution}³, {len(m.class_names)} classes") for m in (info.models if info else ())]
    _model_items_cache[:] = items or [(NO_MODEL, "(connect to a server)", "No model list yet")]
    return _model_items_cache


def _model_changed(self, context):
    """Keep the class one of the new model's."""
    runtime.pick_known_class(self, runtime.server_status())


def _class_items(self, context):
    names = runtime.class_names(self.model)
    items = [(n, n.replace("_", " ").title(), f"Generate a {n}") for n in names]
    _class_items_cache[:] = items or [("NONE", "(connect to a server)", "No class list yet")]
    return _class_items_cache


class VoxelDiffusionSettings(bpy.types.PropertyGroup):
    model: EnumProperty(name="Model", description="Which of the server's models", items=_model_items,
                        update=_model_changed)
    class_name: EnumProperty(name="Class", description="What to generate", items=_class_items)
    seed: IntProperty(name="Seed", description="Same seed and settings give the same object", min=0, max=MAX_PANEL_SEED)
    live_preview: BoolProperty(name="Live Preview", default=True,
                               description="Show the server's rough guess of the object while it denoises")
    random_seed: BoolProperty(name="Random Seed", description="Pick a new seed for every generation", default=False)
    variations: IntProperty(name="Variations", description="Objects per generation (consecutive seeds), side by side",
                            default=1, min=1, max=16)
    quality: EnumProperty(
        name="Quality",
        items=[(key, key.title(), f"{steps} {sampler.upper()} steps")
               for key, (steps, sampler) in QUALITY_PRESETS.items()]
        + [("CUSTOM", "Custom", "Choose steps and sampler")],
        default="NORMAL",
    )
    steps: IntProperty(name="Steps", default=DEFAULT_STEPS, min=1, max=DEFAULT_MAX_STEPS)
    sampler: EnumProperty(name="Sampler", items=[("ddim", "DDIM", "Deterministic, few steps"),
                                                 ("ddpm", "DDPM", "Stochastic ancestral sampling"),
                                                 ("dpmpp_2m", "DPM++ 2M", "Deterministic second-order solver"),
                                                 ("dpmpp_2m_sde", "DPM++ 2M SDE",
                                                  "Stochastic second-order solver, fewest steps")],
                          default=DEFAULT_SAMPLER)
    guidance: FloatProperty(name="Guidance", description="Classifier-free guidance scale (1 = off)",
                            default=DEFAULT_GUIDANCE, min=0.0, max=MAX_GUIDANCE)
    use_colour: BoolProperty(name="Main Colour", default=False,
                             description="Ask the model for objects of this main colour (its hue; models that take "
                             "one). Off: each seed's own colour")
    colour: FloatVectorProperty(name="Colour", description="The main colour asked for (only its hue counts)",
                                subtype="COLOR", size=3, min=0.0, max=1.0, default=(0.8, 0.1, 0.1))
    mesh_style: EnumProperty(name="Mesh", items=[("smooth", "Smooth", "Marching-cubes surface"),
                                                 ("cubes", "Cubes", "One cube per voxel")])
    alpha_threshold: FloatProperty(name="Alpha Threshold", description="Voxels with alpha at or above this are solid",
                             default=DEFAULT_ALPHA_THRESHOLD, min=0.01, max=1.0)
    join_parts: BoolProperty(name="Join Parts", default=DEFAULT_JOIN_PARTS,
                             description="Where a thin leg or pole breaks at the threshold, join the pieces along the "
                             "model's most confident voxels, and remove floating specks")
    mesh_size: FloatProperty(name="Size", description="Edge length of the voxel grid", default=1.0, min=0.001,
                        soft_max=100.0, unit="LENGTH")
    palette_mode: EnumProperty(name="Palette", description="Snap the colours to a few flat ones before meshing",
                               items=[("NONE", "None", "The model's colours"),
                                      ("COLOURS", "Colours", "A palette of K colours made from the object's own"),
                                      ("PRESET", "Preset", "A named palette")])
    palette_colours: IntProperty(name="Colours", description="How many colours", default=8, min=1, max=256,
                                 soft_max=32)
    palette_preset: EnumProperty(name="Preset", items=[(name, name, f"{len(c)} colours") for name, c in PRESETS.items()])
    strength: FloatProperty(name="Strength", description="Generate from Selected: how far from the selected mesh "
                            "(0 keeps its voxels, 1 ignores it)", default=0.6, min=0.0, max=1.0)
    blend_seed: IntProperty(name="To Seed", description="Blend: the seed of the last object of the row",
                            default=1, min=0, max=MAX_PANEL_SEED)
    blend_count: IntProperty(name="Count", description="Blend: objects from Seed's to To Seed's, both included",
                             default=5, min=2, max=16)
    region_mode: EnumProperty(name="Region", items=[("BOX", "Box", "Voxel indices, the ends exclusive"),
                                                    ("HELPER", "Helper", "The bounds of the other selected object "
                                                     "(a cube or an empty over the part)")])
    region_min: IntVectorProperty(name="From", description="First voxel of the region (x, y, z)", size=3, min=0,
                                  max=256, default=(0, 0, 0))
    region_max: IntVectorProperty(name="To", description="End of the region (x, y, z), exclusive; beyond the grid "
                                  "means to its edge", size=3, min=1, max=256, default=(256, 256, 256))

    def palette(self) -> str:
        """The palette option as GenerationParams.palette stores it."""
        return {"NONE": "", "COLOURS": str(self.palette_colours), "PRESET": self.palette_preset}[self.palette_mode]

    def params(self) -> GenerationParams:
        steps, sampler = preset_steps(self.quality, self.steps, self.sampler)
        return GenerationParams(
            class_name=self.class_name, seed=self.seed, model="" if self.model == NO_MODEL else self.model, steps=steps, sampler=sampler, guidance=self.guidance,
            mesh_style=self.mesh_style, alpha_threshold=self.alpha_threshold, mesh_size=self.mesh_size,
            join_parts=self.join_parts, palette=self.palette(), hue=self.hue(),
        )

    def hue(self) -> float:
        """The asked hue as GenerationParams.hue stores it: the colour's, when asked of a model that takes one."""
        model = "" if self.model == NO_MODEL else self.model
        return hue_of(self.colour) if self.use_colour and runtime.takes_hue(model) else NO_HUE

    def region_box(self, resolution: int) -> tuple[int, ...]:
        """The box of the From / To fields in a grid of `resolution` (To clipped to the grid's edge)."""
        return (*self.region_min, *(min(int(v), resolution) for v in self.region_max))


classes = (VoxelDiffusionSettings,)


def register_properties() -> None:
    bpy.types.Scene.voxel_diffusion = PointerProperty(type=VoxelDiffusionSettings)


def unregister_properties() -> None:
    del bpy.types.Scene.voxel_diffusion
