"""Time to build the Blender object from a 16^3, 32^3 and 64^3 voxel grid, in both mesh styles.

    python bench/bench_blender_build.py [--repeats 5]      (uses the bpy module; no server needed)

The grid is a coloured sphere filling the grid. "mesh" is the numpy meshing (cubes run in Blender;
smooth runs on the server, which has scikit-image); "build" is scene_build.build_object: bulk
vertex/loop/polygon upload, the colour attribute and the material. Medians over --repeats runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import bpy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blender_addon.blender import scene_build  # noqa: E402
from blender_addon.shared.generation import GenerationParams  # noqa: E402
from blender_addon.shared.meshing import cube_mesh, smooth_mesh  # noqa: E402


def sphere(resolution: int) -> np.ndarray:
    """float32 [4, R, R, R]: a ball of radius 0.45 R with a colour gradient, soft alpha edge."""
    centres = (np.indices((resolution,) * 3, dtype=np.float32) + 0.5) / resolution
    dist = np.sqrt(((centres - 0.5) ** 2).sum(0)) * resolution
    alpha = np.clip(0.45 * resolution + 0.5 - dist, 0.0, 1.0)
    rgb = np.where(alpha >= 0.5, centres, 0.0)
    return np.concatenate([rgb, alpha[None]]).astype(np.float32)


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    collection = scene_build.voxel_collection(bpy.context.scene)
    print(f"{'grid':>6} {'style':>7} {'faces':>8} {'verts':>8} {'mesh ms':>9} {'build ms':>9} {'total ms':>9}")
    for resolution in (16, 32, 64):
        voxels = sphere(resolution)
        for style, mesher in (("cubes", cube_mesh), ("smooth", smooth_mesh)):
            mesh_s, arrays = median_time(lambda: mesher(voxels, 0.5, 1.0), args.repeats)
            params = GenerationParams("sphere", resolution, mesh_style=style)

            def build():
                obj = scene_build.build_object(arrays, params, collection=collection)
                bpy.context.view_layer.update()
                return obj

            build_s, obj = median_time(build, args.repeats)
            print(f"{resolution:>4}^3 {style:>7} {len(arrays.faces):>8} {len(arrays.vertices):>8} "
                  f"{mesh_s * 1e3:>9.1f} {build_s * 1e3:>9.1f} {(mesh_s + build_s) * 1e3:>9.1f}")


if __name__ == "__main__":
    main()
