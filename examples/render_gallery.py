"""Render the README gallery: one generated object per class on a labelled grid, in both mesh styles.

Start a server first (`python -m server serve --checkpoint CKPT`), then
    python examples/render_gallery.py --port 5557 --out docs/images
writes OUT/gallery_cubes.png and OUT/gallery_smooth.png (Cycles, CPU). On the bundled model:
    .venv/bin/python scripts/with_server.py models/default_16.safetensors examples/render_gallery.py
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `blender_addon`
from blender_addon.blender import api  # noqa: E402
from blender_addon.shared.settings import DEFAULT_GUIDANCE  # noqa: E402
from populate_scene import script_argv, script_parser, sky  # noqa: E402  (examples/ is on sys.path when run as a script)


def parse_args() -> argparse.Namespace:
    p = script_parser(__doc__.splitlines()[0], "docs/images", samples=32, resolution=(960, 960))
    p.add_argument("--seed", type=int, default=0, help="seed of the first object (class i gets seed + i)")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    return p.parse_args(script_argv())


def label(text: str, location: tuple[float, float, float], size: float) -> None:
    """A flat dark text object lying on the ground (the class name under an object)."""
    curve = bpy.data.curves.new(f"label_{text}", type="FONT")
    curve.body, curve.size, curve.align_x = text, size, "CENTER"
    obj = bpy.data.objects.new(f"label_{text}", curve)
    obj.location = location
    curve.materials.append(flat_material("Label", (0.02, 0.02, 0.02)))
    bpy.context.scene.collection.objects.link(obj)


def flat_material(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    """A Principled material of one colour (viewport and render)."""
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = (*color, 1.0)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*color, 1.0)
    return material


def grid_scene(classes: list[str], args: argparse.Namespace, style: str) -> None:
    """Objects of size 1 on a `columns`-wide grid, camera looking down at 55 degrees (orthographic)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    spacing, cols = 1.8, args.columns
    rows = math.ceil(len(classes) / cols)
    locations = [((i % cols - (cols - 1) / 2) * spacing, ((rows - 1) / 2 - i // cols) * spacing, 0.0)
                 for i in range(len(classes))]
    api.generate_objects([(c, args.seed + i) for i, c in enumerate(classes)], host=args.host, port=args.port, mesh_style=style, mesh_size=1.0,
                         steps=args.steps, guidance=args.guidance, locations=locations)
    for i, (name, (x, y, z)) in enumerate(zip(classes, locations)):
        label(f"{name} {args.seed + i}", (x, y - 0.7, z + 0.001), size=0.18)

    bpy.ops.mesh.primitive_plane_add(size=40.0)
    ground = bpy.context.active_object
    ground.data.materials.append(flat_material("Ground", (0.6, 0.6, 0.58)))
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy, sun.data.angle = 2.5, math.radians(8)
    sun.rotation_euler = (math.radians(40), 0.0, math.radians(25))
    scene.collection.objects.link(sun)
    sky(scene, (0.8, 0.85, 0.95), strength=0.5)
    scene.view_settings.view_transform = "Standard"  # keep the model's colours (AgX desaturates them)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.type, camera.data.ortho_scale = "ORTHO", spacing * max(cols, rows)
    tilt = math.radians(45)
    camera.location = (0.0, -20.0 * math.sin(tilt), 20.0 * math.cos(tilt) + 0.4)
    camera.rotation_euler = (tilt, 0.0, 0.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", args.samples, False
    scene.render.resolution_x, scene.render.resolution_y = args.resolution
    scene.render.resolution_percentage = 100


def main() -> None:
    args = parse_args()
    classes = list(api.server_info(args.host, args.port).class_names)
    args.out.mkdir(parents=True, exist_ok=True)
    for style in ("cubes", "smooth"):
        grid_scene(classes, args, style)
        path = (args.out / f"gallery_{style}.png").resolve()
        bpy.context.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
