"""`generate` with artist control: a start grid (.npz / .vox / .obj), a region, a blend, a palette, .vox out."""
from __future__ import annotations

import numpy as np
import pytest

from blender_addon.shared.vox import read_vox, write_vox
from server import generate_cmd
from server.grid_files import load_init, read_obj, read_ply, region_box


def _generate(tiny_checkpoint, out, *extra: str) -> int:
    return generate_cmd.main(["--checkpoint", str(tiny_checkpoint), "--class", "lamp", "--steps", "3",
                              "--alpha-threshold", "0.5", "--out", str(out), *extra])


def test_a_region_of_an_earlier_result_is_regenerated_and_the_rest_kept(tiny_checkpoint, tmp_path):
    assert _generate(tiny_checkpoint, tmp_path / "a", "--seed", "4") == 0
    first = tmp_path / "a" / "lamp_4.npz"
    assert _generate(tiny_checkpoint, tmp_path / "b", "--seed", "9", "--init", str(first),
                     "--region", "0,0,4,8,8,8") == 0
    with np.load(first) as a, np.load(tmp_path / "b" / "lamp_9.npz") as b:
        before, after = a["voxels"], b["voxels"]
    assert np.array_equal(after[..., :4], before[..., :4])  # below z = 4: kept exactly
    assert not np.array_equal(after[..., 4:], before[..., 4:])


def test_strength_zero_keeps_the_start_grid_and_vox_goes_both_ways(tiny_checkpoint, tmp_path):
    grid = np.zeros((4, 8, 8, 8), np.float32)
    grid[:3, 2:6, 2:6, 0:5] = np.array([0.8, 0.2, 0.1])[:, None, None, None]
    grid[3, 2:6, 2:6, 0:5] = 1.0
    write_vox(tmp_path / "block.vox", grid[:, 2:6, 2:6, 0:5], 0.5)  # a 4x4x5 model, placed in the 8^3 grid
    assert _generate(tiny_checkpoint, tmp_path / "out", "--init", str(tmp_path / "block.vox"), "--strength", "0",
                     "--format", "vox") == 0
    voxels, _ = read_vox(tmp_path / "out" / "lamp_0.vox")
    assert np.array_equal(voxels[3] > 0.5, grid[3] > 0.5)
    np.testing.assert_allclose(voxels[:3][:, grid[3] > 0.5], grid[:3][:, grid[3] > 0.5], atol=1 / 255)


def test_a_blend_row_and_a_palette(tiny_checkpoint, tmp_path):
    assert _generate(tiny_checkpoint, tmp_path, "--seed", "2", "--blend-seed", "7", "--count", "3",
                     "--palette", "2") == 0
    names = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert names == ["lamp_2_0.npz", "lamp_2_1.npz", "lamp_2_2.npz"]
    with np.load(tmp_path / "lamp_2_1.npz") as f:
        voxels = f["voxels"]
    solid = voxels[3] >= 0.5
    assert len(np.unique(voxels[:3][:, solid].T, axis=0)) <= 2


def test_a_ply_mesh_written_by_generate_reads_back_and_is_a_start(tiny_checkpoint, tmp_path):
    assert _generate(tiny_checkpoint, tmp_path / "a", "--seed", "4", "--mesh-style", "cubes") == 0
    mesh = tmp_path / "a" / "lamp_4.ply"
    vertices, tris, colors = read_ply(mesh)
    assert vertices.shape[1] == 3 and tris.shape[1] == 3 and colors.shape == (len(vertices), 3)
    assert 0.0 <= colors.min() and colors.max() <= 1.0 and tris.max() < len(vertices)
    ascii_cube = ("ply\nformat ascii 1.0\nelement vertex 8\nproperty float x\nproperty float y\nproperty float z\n"
                  "element face 6\nproperty list uchar int vertex_indices\nend_header\n"
                  + "".join(f"{x} {y} {z}\n" for x in (0, 1) for y in (0, 1) for z in (0, 1))
                  + "4 0 1 3 2\n4 4 6 7 5\n4 0 4 5 1\n4 2 3 7 6\n4 0 2 6 4\n4 1 5 7 3\n")
    (tmp_path / "cube.ply").write_text(ascii_cube)
    assert (load_init(tmp_path / "cube.ply", 4, 8)[3] > 0.5).sum() >= 27
    assert _generate(tiny_checkpoint, tmp_path / "b", "--init", str(mesh), "--strength", "0.5") == 0
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat binary_big_endian 1.0\nend_header\n")
    with pytest.raises(ValueError, match="not supported"):
        read_ply(tmp_path / "bad.ply")


def test_an_obj_mesh_is_voxelised_as_the_start(tiny_checkpoint, tmp_path):
    cube = "\n".join(f"v {x} {y} {z} 0.2 0.4 0.9" for x in (0, 1) for y in (0, 1) for z in (0, 1))
    faces = ["1 2 4 3", "5 7 8 6", "1 5 6 2", "3 4 8 7", "1 3 7 5", "2 6 8 4"]
    (tmp_path / "cube.obj").write_text(cube + "\n" + "\n".join(f"f {f}" for f in faces) + "\n")
    vertices, tris, colors = read_obj(tmp_path / "cube.obj")
    assert vertices.shape == (8, 3) and tris.shape == (12, 3) and colors.shape == (8, 3)
    grid = load_init(tmp_path / "cube.obj", 4, 8)
    assert grid.shape == (4, 8, 8, 8) and (grid[3] > 0.5).sum() >= 27  # a solid block
    np.testing.assert_allclose(grid[:3][:, grid[3] > 0.5].mean(1), [0.2, 0.4, 0.9], atol=0.02)
    assert _generate(tiny_checkpoint, tmp_path / "out", "--init", str(tmp_path / "cube.obj"), "--strength", "0.5") == 0


@pytest.mark.parametrize("args, words", [
    (["--region", "0,0,0,8,8,8"], "--region marks part of an --init"),
])
def test_bad_combinations_are_refused(tiny_checkpoint, tmp_path, args, words, capsys):
    with pytest.raises(SystemExit):
        _generate(tiny_checkpoint, tmp_path, *args)
    assert words in capsys.readouterr().err


def test_bad_start_files_and_boxes_say_what_is_wrong(tiny_checkpoint, tmp_path, capsys):
    np.savez(tmp_path / "wrong.npz", voxels=np.zeros((4, 16, 16, 16), np.float32))
    assert _generate(tiny_checkpoint, tmp_path, "--init", str(tmp_path / "wrong.npz"), "--strength", "0.5") == 1
    assert "needs [4, 8, 8, 8]" in capsys.readouterr().err
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no faces"):
        read_obj(tmp_path / "empty.obj")
    for box in ("1,2,3", "0,0,0,9,8,8", "4,0,0,4,8,8"):
        with pytest.raises(ValueError, match="--region"):
            region_box(box, 8)
