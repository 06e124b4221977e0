"""Render the README gallery: one generated object per class on a labelled grid, in both mesh styles.

Start a server first (`python -m server serve --checkpoint CKPT`), then
    python examples/render_gallery.py --port 5557 --out docs/images
writes OUT/gallery_cubes.png and OUT/gallery_smooth.png (Cycles, CPU; `--name N`: OUT/N_cubes.png, ...). On the
bundled model:
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
from populate_scene import gallery_stage, grid_locations, label, script_argv, script_parser  # noqa: E402  (examples/ is on sys.path when run as a script)


def parse_args() -> argparse.Namespace:
    p = script_parser(__doc__.splitlines()[0], "docs/images", samples=32, resolution=(960, 960))
    p.add_argument("--seed", type=int, default=0, help="seed of the first object (class i gets seed + i)")
    p.add_argument("--columns", type=int, default=4)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--name", default="gallery", help="file names: NAME_cubes.png and NAME_smooth.png")
    return p.parse_args(script_argv())


def grid_scene(classes: list[str], args: argparse.Namespace, style: str) -> None:
    """Objects of size 1 on a `columns`-wide grid, camera looking down at 55 degrees (orthographic)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    spacing, cols = 1.8, args.columns
    rows = math.ceil(len(classes) / cols)
    locations = grid_locations(len(classes), cols, spacing)
    api.generate_objects([(c, args.seed + i) for i, c in enumerate(classes)], host=args.host, port=args.port, mesh_style=style, mesh_size=1.0,
                         steps=args.steps, guidance=args.guidance, locations=locations)
    for i, (name, (x, y, z)) in enumerate(zip(classes, locations)):
        label(f"{name} {args.seed + i}", (x, y - 0.7, z + 0.001), size=0.18)

    gallery_stage(scene, spacing * max(cols, rows), args.resolution, args.samples)


def main() -> None:
    args = parse_args()
    classes = list(api.server_info(args.host, args.port).class_names)
    args.out.mkdir(parents=True, exist_ok=True)
    for style in ("cubes", "smooth"):
        grid_scene(classes, args, style)
        path = (args.out / f"{args.name}_{style}.png").resolve()
        bpy.context.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
