"""Build a small scene with Voxel Diffusion objects and render it with Cycles.

Start a server first (`python -m server serve --checkpoint CKPT`), then either
    blender -b -P examples/populate_scene.py -- --out out/example
or, with the bpy module from PyPI,
    python examples/populate_scene.py --out out/example
Writes OUT/scene.png (Cycles, CPU, few samples: well under a minute) and OUT/scene.blend.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `blender_addon`
from blender_addon.blender import api  # noqa: E402
from blender_addon.shared.protocol import DEFAULT_PORT  # noqa: E402
from blender_addon.shared.settings import DEFAULT_STEPS  # noqa: E402


def script_parser(description: str, out: str, samples: int, resolution: tuple[int, int]) -> argparse.ArgumentParser:
    """Flags every example script takes: the server, the output folder, steps and Cycles settings."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--out", type=Path, default=Path(out))
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--samples", type=int, default=samples, help="Cycles samples")
    p.add_argument("--resolution", type=int, nargs=2, default=resolution)
    return p


def script_argv() -> list[str]:
    """The script's own arguments: after `--` under `blender -b -P`, else all of them."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args() -> argparse.Namespace:
    p = script_parser(__doc__.splitlines()[0], "out/example", samples=16, resolution=(480, 320))
    p.add_argument("--count", type=int, default=6, help="objects scattered on the ground")
    return p.parse_args(script_argv())


def stage(scene: bpy.types.Scene, resolution: tuple[int, int], samples: int) -> None:
    """Ground plane, a sun, a camera looking at the origin, and fast Cycles settings."""
    bpy.ops.mesh.primitive_plane_add(size=14.0)
    ground = bpy.context.active_object
    ground.name = "Ground"
    ground.data.materials.append(flat_material("Ground", (0.3, 0.3, 0.27)))

    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (math.radians(50), 0.0, math.radians(30))
    scene.collection.objects.link(sun)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.location = (9.0, -9.0, 7.0)
    scene.collection.objects.link(camera)
    target = bpy.data.objects.new("Camera Target", None)
    scene.collection.objects.link(target)
    constraint = camera.constraints.new("TRACK_TO")
    constraint.target = target
    scene.camera = camera

    sky(scene, (0.45, 0.65, 1.0), strength=1.0)
    scene.view_settings.view_transform = "Standard"  # keep the model's colours (AgX desaturates them)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100


def sky(scene: bpy.types.Scene, color: tuple[float, float, float], strength: float) -> None:
    """A light, uniform sky: the world's Background node (Cycles ignores `world.color`)."""
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    tree = world.node_tree
    background = next((n for n in tree.nodes if n.type == "BACKGROUND"), None) or tree.nodes.new("ShaderNodeBackground")
    output = next((n for n in tree.nodes if n.type == "OUTPUT_WORLD"), None) or tree.nodes.new("ShaderNodeOutputWorld")
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    background.inputs["Color"].default_value = (*color, 1.0)
    background.inputs["Strength"].default_value = strength
    world.color = color  # the viewport's world colour


def flat_material(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    """A Principled material of one colour (viewport and render)."""
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = (*color, 1.0)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*color, 1.0)
    return material


def label(text: str, location: tuple[float, float, float], size: float) -> None:
    """A flat dark text object lying on the ground (the class name under an object)."""
    curve = bpy.data.curves.new(f"label_{text}", type="FONT")
    curve.body, curve.size, curve.align_x = text, size, "CENTER"
    obj = bpy.data.objects.new(f"label_{text}", curve)
    obj.location = location
    curve.materials.append(flat_material("Label", (0.02, 0.02, 0.02)))
    bpy.context.scene.collection.objects.link(obj)


def grid_locations(count: int, columns: int, spacing: float) -> list[tuple[float, float, float]]:
    """`count` points on the ground, row by row (`columns` wide, the first row at the back), centred on the origin."""
    rows = math.ceil(count / columns)
    return [((i % columns - (columns - 1) / 2) * spacing, ((rows - 1) / 2 - i // columns) * spacing, 0.0)
            for i in range(count)]


def gallery_stage(scene: bpy.types.Scene, ortho_scale: float, resolution: tuple[int, int], samples: int,
                  center: tuple[float, float] = (0.0, 0.0)) -> None:
    """A light studio for a grid of objects on the ground around `center`: a pale ground, a sun, a soft sky and
    an orthographic camera looking down at 45 degrees, `ortho_scale` wide (the longer side of the frame)."""
    bpy.ops.mesh.primitive_plane_add(size=40.0, location=(*center, 0.0))
    ground = bpy.context.active_object
    ground.data.materials.append(flat_material("Ground", (0.6, 0.6, 0.58)))
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy, sun.data.angle = 2.5, math.radians(8)
    sun.rotation_euler = (math.radians(40), 0.0, math.radians(25))
    scene.collection.objects.link(sun)
    sky(scene, (0.8, 0.85, 0.95), strength=0.5)
    scene.view_settings.view_transform = "Standard"  # keep the model's colours (AgX desaturates them)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.type, camera.data.ortho_scale = "ORTHO", ortho_scale
    tilt = math.radians(45)
    camera.location = (center[0], center[1] - 20.0 * math.sin(tilt), 20.0 * math.cos(tilt) + 0.4)
    camera.rotation_euler = (tilt, 0.0, 0.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", samples, False
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100


def main() -> None:
    args = parse_args()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    stage(scene, tuple(args.resolution), args.samples)
    classes = api.server_info(args.host, args.port).class_names
    server = {"host": args.host, "port": args.port, "steps": args.steps}
    # A row of each class in cubes at the back, a scatter of smooth objects in front.
    api.populate_grid(classes[:4], seeds=[0], spacing=1.6, origin=(-2.4, 4.0, 0.0), mesh_style="cubes", **server)
    api.scatter_on_plane(args.count, classes, area=(8.0, 6.0), min_distance=0.3, seed=1, center=(0.0, -1.0, 0.0),
                         **server)
    args.out.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str((args.out / "scene.png").resolve())
    bpy.ops.render.render(write_still=True)
    path = api.save_blend(args.out / "scene.blend")
    print(f"wrote {scene.render.filepath} and {path}")


if __name__ == "__main__":
    main()
