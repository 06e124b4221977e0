"""MagicaVoxel .vox reading and writing (blender_addon/shared/vox.py), against files built by hand from the spec."""
import struct

import numpy as np
import pytest

from blender_addon.shared.vox import DEFAULT_PALETTE, read_vox, write_vox


def _chunk(chunk_id: bytes, content: bytes = b"", children: bytes = b"") -> bytes:
    return chunk_id + struct.pack("<ii", len(content), len(children)) + content + children


def _file(*children: bytes, version: int = 150) -> bytes:
    return b"VOX " + struct.pack("<i", version) + _chunk(b"MAIN", b"", b"".join(children))


def _model(size: tuple[int, int, int], voxels: list[tuple[int, int, int, int]]) -> bytes:
    xyzi = struct.pack("<i", len(voxels)) + bytes(b for v in voxels for b in v)
    return _chunk(b"SIZE", struct.pack("<3i", *size)) + _chunk(b"XYZI", xyzi)


def _rgba(colors: list[tuple[int, int, int, int]]) -> bytes:
    """An RGBA chunk whose entry i (colour index i + 1) is colors[i]; the rest grey."""
    entries = colors + [(128, 128, 128, 255)] * (256 - len(colors))
    return _chunk(b"RGBA", bytes(b for c in entries for b in c))


def _read_bytes(tmp_path, data: bytes):
    path = tmp_path / "in.vox"
    path.write_bytes(data)
    return read_vox(path)


def _random_grid(shape, colors: np.ndarray, seed: int = 0) -> np.ndarray:
    """float32 [4, *shape]: about half the voxels filled (alpha 1) with a random row of colors [K, 3];
    the rest have alpha just below 0.5 and a colour too (the writer must skip them)."""
    rng = np.random.default_rng(seed)
    vox = np.zeros((4, *shape), np.float32)
    vox[:3] = np.moveaxis(colors[rng.integers(0, len(colors), shape)], -1, 0)
    vox[3] = np.where(rng.random(shape) < 0.5, 1.0, 0.49)
    return vox


def _rgb8(vox: np.ndarray) -> np.ndarray:
    return np.rint(vox[:3] * 255).astype(np.int64)


def test_round_trip_keeps_occupancy_and_8bit_colours(tmp_path):
    colors = np.random.default_rng(1).random((40, 3)).astype(np.float32)
    vox = _random_grid((7, 5, 3), colors)  # unequal axes: a transposition would show
    write_vox(tmp_path / "a.vox", vox, alpha_threshold=0.5)
    back, palette = read_vox(tmp_path / "a.vox")
    assert back.shape == (4, 7, 5, 3) and back.dtype == np.float32
    occupied = vox[3] >= 0.5
    np.testing.assert_array_equal(back[3], occupied.astype(np.float32))
    np.testing.assert_array_equal(_rgb8(back)[:, occupied], _rgb8(vox)[:, occupied])
    assert (back[:3, ~occupied] == 0).all()
    assert palette.shape == (256, 4) and palette.dtype == np.uint8


def test_mask_only_and_empty_grids_write(tmp_path):
    mask = np.zeros((1, 2, 2, 2), np.float32)
    mask[0, 1, 0, 1] = 1.0
    write_vox(tmp_path / "m.vox", mask, 0.5)
    back, _ = read_vox(tmp_path / "m.vox")
    assert back[3].sum() == 1 and back[3, 1, 0, 1] == 1
    write_vox(tmp_path / "e.vox", np.zeros((4, 3, 3, 3), np.float32), 0.5)
    assert read_vox(tmp_path / "e.vox")[0][3].sum() == 0


def test_more_than_255_colours_are_quantised_deterministically(tmp_path):
    rng = np.random.default_rng(2)
    vox = np.ones((4, 12, 12, 12), np.float32)
    vox[:3] = rng.random((3, 12, 12, 12))
    assert len(np.unique(_rgb8(vox).reshape(3, -1), axis=1).T) > 255
    write_vox(tmp_path / "a.vox", vox, 0.5)
    write_vox(tmp_path / "b.vox", vox, 0.5)
    assert (tmp_path / "a.vox").read_bytes() == (tmp_path / "b.vox").read_bytes()
    back, palette = read_vox(tmp_path / "a.vox")
    assert (back[3] == 1).all()
    used = np.unique(_rgb8(back).reshape(3, -1), axis=1).T
    assert len(used) <= 255
    palette_rgb = {tuple(c) for c in palette[1:, :3].tolist()}
    assert {tuple(c) for c in used.tolist()} <= palette_rgb  # every voxel's colour is a palette entry
    assert np.abs(_rgb8(back) - _rgb8(vox)).mean() < 16  # and a near one (255 colours for 1728)


def test_a_given_palette_is_stored_in_order_and_each_voxel_takes_the_nearest(tmp_path):
    palette = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    vox = np.zeros((4, 3, 1, 1), np.float32)
    vox[:, :, 0, 0] = np.array([[0.1, 0.2, 0.9, 1], [0.8, 0.3, 0.1, 1], [0.2, 0.7, 0.3, 1]]).T
    write_vox(tmp_path / "p.vox", vox, 0.5, palette=palette)
    back, stored = read_vox(tmp_path / "p.vox")
    np.testing.assert_array_equal(stored[1:4, :3], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_array_equal(back[:3, :, 0, 0].T, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    # uint8 palettes too; RGBA rows drop their alpha
    write_vox(tmp_path / "q.vox", vox, 0.5, palette=np.array([[10, 20, 30, 0]], np.uint8))
    np.testing.assert_array_equal(_rgb8(read_vox(tmp_path / "q.vox")[0])[:, :, 0, 0].T, [[10, 20, 30]] * 3)


@pytest.mark.parametrize(
    "palette",
    [np.zeros((256, 3), np.uint8), np.zeros((0, 3), np.uint8), np.zeros((4, 2)), np.array([[0, 0, 300]])],
)
def test_bad_palettes_are_refused(tmp_path, palette):
    with pytest.raises(ValueError, match="palette"):
        write_vox(tmp_path / "p.vox", np.ones((4, 1, 1, 1), np.float32), 0.5, palette=palette)


def test_byte_layout_of_a_one_voxel_file_follows_the_spec(tmp_path):
    vox = np.zeros((4, 2, 1, 3), np.float32)
    vox[:, 1, 0, 2] = (1.0, 0.0, 0.0, 1.0)
    write_vox(tmp_path / "one.vox", vox, 0.5)
    data = (tmp_path / "one.vox").read_bytes()
    children = (12 + 12) + (12 + 4 + 4) + (12 + 1024)  # SIZE, XYZI with one voxel, RGBA
    assert data[:20] == b"VOX " + struct.pack("<i", 150) + b"MAIN" + struct.pack("<ii", 0, children)
    assert len(data) == 20 + children
    assert data[20:44] == b"SIZE" + struct.pack("<5i", 12, 0, 2, 1, 3)
    assert data[44:64] == b"XYZI" + struct.pack("<3i", 8, 0, 1) + bytes([1, 0, 2, 1])  # (x, y, z, index 1)
    assert data[64:76] == b"RGBA" + struct.pack("<ii", 1024, 0)
    assert data[76:80] == bytes([255, 0, 0, 255])  # RGBA entry 0 is colour index 1


def test_reads_a_hand_built_file_with_x_y_z_as_our_axes(tmp_path):
    data = _file(_model((3, 2, 4), [(2, 0, 3, 1), (0, 1, 0, 2)]), _rgba([(255, 0, 0, 255), (0, 0, 255, 255)]))
    voxels, palette = _read_bytes(tmp_path, data)
    assert voxels.shape == (4, 3, 2, 4)
    np.testing.assert_array_equal(np.argwhere(voxels[3] == 1), [[0, 1, 0], [2, 0, 3]])
    np.testing.assert_array_equal(voxels[:, 2, 0, 3], [1, 0, 0, 1])
    np.testing.assert_array_equal(voxels[:, 0, 1, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(palette[0], [0, 0, 0, 0])
    np.testing.assert_array_equal(palette[1:3], [[255, 0, 0, 255], [0, 0, 255, 255]])


def test_files_without_rgba_use_the_spec_default_palette(tmp_path):
    voxels, palette = _read_bytes(tmp_path, _file(_model((1, 1, 2), [(0, 0, 0, 2), (0, 0, 1, 216)])))
    np.testing.assert_array_equal(palette, DEFAULT_PALETTE)
    # entries copied from the spec's default_palette (uint32 0xAABBGGRR, i.e. bytes R, G, B, A)
    spec = {0: 0x00000000, 1: 0xFFFFFFFF, 2: 0xFFCCFFFF, 7: 0xFFFFCCFF, 37: 0xFFFFFFCC, 215: 0xFF330000,
            216: 0xFF0000EE, 226: 0xFF00EE00, 236: 0xFFEE0000, 246: 0xFFEEEEEE, 255: 0xFF111111}
    for index, value in spec.items():
        assert palette[index].tolist() == list(struct.pack("<I", value)), index
    np.testing.assert_array_equal(_rgb8(voxels)[:, 0, 0, :].T, [[255, 255, 204], [238, 0, 0]])


def test_unknown_chunks_are_skipped_and_the_first_model_is_read(tmp_path):
    """A MagicaVoxel 0.99-style file: version 200, PACK, two models, scene graph, materials, layers."""
    dict_one = struct.pack("<i", 1) + struct.pack("<i", 5) + b"_name" + struct.pack("<i", 1) + b"a"
    data = _file(
        _chunk(b"PACK", struct.pack("<i", 2)),
        _model((2, 2, 2), [(1, 1, 1, 3)]),
        _model((4, 4, 4), [(3, 3, 3, 1), (0, 0, 0, 1)]),
        _chunk(b"nTRN", struct.pack("<i", 0) + dict_one + struct.pack("<4i", 1, -1, 0, 1) + struct.pack("<i", 0)),
        _chunk(b"nGRP", struct.pack("<ii", 1, 0) + struct.pack("<ii", 1, 2)),
        _chunk(b"nSHP", struct.pack("<iiiii", 2, 0, 1, 0, 0)),
        _rgba([(9, 9, 9, 255), (8, 8, 8, 255), (1, 2, 3, 255)]),
        _chunk(b"MATL", struct.pack("<i", 1) + dict_one),
        _chunk(b"LAYR", struct.pack("<i", 0) + dict_one + struct.pack("<i", -1)),
        _chunk(b"rOBJ", dict_one),
        _chunk(b"ZZZZ", b"\x00" * 5, _chunk(b"CHLD", b"xyz")),  # an unknown chunk with children
        version=200,
    )
    voxels, palette = _read_bytes(tmp_path, data)
    assert voxels.shape == (4, 2, 2, 2)
    assert voxels[3].sum() == 1
    np.testing.assert_array_equal(_rgb8(voxels)[:, 1, 1, 1], [1, 2, 3])


def _valid() -> bytes:
    return _file(_model((2, 2, 2), [(0, 0, 0, 1), (1, 1, 1, 2)]), _rgba([(255, 0, 0, 255)]))


def test_every_truncation_is_a_value_error(tmp_path):
    data = _valid()
    _read_bytes(tmp_path, data)  # the whole file reads
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            _read_bytes(tmp_path, data[:cut])


@pytest.mark.parametrize(
    "data, match",
    [
        (b"RIFF" + _valid()[4:], "magic"),
        (b"VOX", "magic"),
        (_file(_model((2, 2, 2), [(0, 2, 0, 1)])), "outside"),  # y = 2 with SIZE y = 2
        (_file(_model((2, 2, 2), [(5, 0, 0, 1)])), "outside"),
        (_valid()[:16] + struct.pack("<i", 10**6) + _valid()[20:], "claims"),  # MAIN children past the end
        (_file(_chunk(b"SIZE", struct.pack("<3i", 2, 2, 2))[:4] + struct.pack("<ii", 400, 0)), "claims"),
        (_file(_chunk(b"SIZE", struct.pack("<3i", 2, 2, 2))[:4] + struct.pack("<ii", -1, 0)), "negative"),
        (_file(_chunk(b"SIZE", struct.pack("<3i", 2, 2, 2)), _chunk(b"XYZI", struct.pack("<i", 3))), "XYZI"),
        (_file(_chunk(b"SIZE", b"\x01\x00"), _chunk(b"XYZI", struct.pack("<i", 0))), "SIZE"),
        (_file(_model((2, 2, 2), []), _chunk(b"RGBA", b"\x00" * 100)), "RGBA"),
        (_file(_model((0, 2, 2), [])), "size"),
        (_file(_model((300, 2, 2), [])), "size"),
        (_file(_rgba([])), "no model"),
        (b"VOX " + struct.pack("<i", 150) + _chunk(b"PACK", struct.pack("<i", 1)), "MAIN"),
    ],
)
def test_malformed_files_raise_value_error(tmp_path, data, match):
    with pytest.raises(ValueError, match=match):
        _read_bytes(tmp_path, data)


def test_corrupted_bytes_read_or_raise_value_error_only(tmp_path):
    data = bytearray(_file(_model((3, 3, 3), [(i % 3, i // 3 % 3, i // 9, i + 1) for i in range(27)]), _rgba([])))
    rng = np.random.default_rng(3)
    for _ in range(300):
        bad = bytearray(data)
        for position in rng.integers(0, 20 + 24 + 12 + 4 + 27 * 4, size=3):  # header, SIZE and XYZI bytes
            bad[position] = rng.integers(0, 256)
        try:
            voxels, _ = _read_bytes(tmp_path, bytes(bad))
        except ValueError:
            continue
        assert voxels.ndim == 4 and voxels.shape[0] == 4 and max(voxels.shape[1:]) <= 256


@pytest.mark.parametrize("shape", [(4, 257, 1, 1), (4, 1, 1, 300), (4, 0, 2, 2), (4, 2, 2), (3, 2, 2, 2)])
def test_write_refuses_shapes_vox_cannot_hold(tmp_path, shape):
    with pytest.raises(ValueError):
        write_vox(tmp_path / "big.vox", np.ones(shape, np.float32), 0.5)
    assert not (tmp_path / "big.vox").exists()
