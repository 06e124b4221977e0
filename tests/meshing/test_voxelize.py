"""Mesh arrays -> voxel grid (blender_addon.shared.voxelize; numpy only, CPU, fast).

Volumes at 32^3 (fit="grid", the meshes rotated and shifted off the lattice) are checked against the analytic
volume of the ideal shape within VOLUME_TOLERANCE. Measured over 20 random poses: cube 14^3 -0.4..+1.4%,
UV sphere r=10 (48x24) -1.5..-0.3%, torus 9/4 (64x32) -1.3..-0.2%; the faceted sphere and torus themselves
hold 0.7-0.9% less than the ideal shapes.
"""
from __future__ import annotations

import numpy as np
import pytest

from blender_addon.shared import voxelize as vz
from blender_addon.shared.colors import MASK_DEFAULT_RGB
from blender_addon.shared.meshing import cube_mesh
from blender_addon.shared.voxelize import voxelize

R = 32
VOLUME_TOLERANCE = 0.03
CENTRE = np.array([16.137, 15.871, 16.052])  # off the lattice
CENTRES = np.indices((R, R, R)) + 0.5  # [3, R, R, R] voxel centres in grid units


# ---------------------------------------------------------------- meshes
def _box(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box: vertices [8, 3], outward quads [6, 4] ordered -x, +x, -y, +y, -z, +z."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)  # index 4x + 2y + z
    quads = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
    return lo + corners * (hi - lo), quads


def _triangles(quads: np.ndarray) -> np.ndarray:
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def _uv_sphere(centre, radius: float, segments: int = 48, rings: int = 24) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    t, p = np.meshgrid(theta, np.arange(segments) * 2 * np.pi / segments, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    vertices = np.concatenate([[[0, 0, 1]], ring, [[0, 0, -1]]]) * radius + centre
    south = len(vertices) - 1

    def at(i, j):
        return 1 + i * segments + j % segments

    faces = []
    for j in range(segments):
        faces += [[0, at(0, j), at(0, j + 1)], [south, at(rings - 2, j + 1), at(rings - 2, j)]]
        for i in range(rings - 2):
            a, b, c, d = at(i, j), at(i, j + 1), at(i + 1, j + 1), at(i + 1, j)
            faces += [[a, d, c], [a, c, b]]
    return vertices, np.array(faces)


def _torus(centre, major: float, minor: float, segments: int = 64, sides: int = 32):
    u, w = np.meshgrid(np.arange(segments) * 2 * np.pi / segments, np.arange(sides) * 2 * np.pi / sides,
                       indexing="ij")
    ring = major + minor * np.cos(w)
    vertices = np.stack([ring * np.cos(u), ring * np.sin(u), minor * np.sin(w)], -1).reshape(-1, 3) + centre

    def at(i, j):
        return (i % segments) * sides + j % sides

    faces = []
    for i in range(segments):
        for j in range(sides):
            a, b, c, d = at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)
            faces += [[a, b, c], [a, c, d]]
    return vertices, np.array(faces)


def _rotated(vertices: np.ndarray, centre, angles=(0.5, 0.3, 0.2)) -> tuple[np.ndarray, np.ndarray]:
    """Rotate about `centre` by x, y then z angles. Returns (vertices, the rotation matrix)."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    m = rz @ ry @ rx
    return (vertices - centre) @ m.T + centre, m


def _signed_volume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    v = vertices[triangles]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6)


def _blob(rng: np.random.Generator, r: int = 16, size: int = 120) -> np.ndarray:
    """A random 6-connected set of voxels (bool [r, r, r]) touching the floor, with overhangs and edge contacts."""
    occ = np.zeros((r, r, r), bool)
    occ[r // 2, r // 2, 0] = True
    steps = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)])
    while occ.sum() < size:
        cells = np.argwhere(occ)
        grown = cells[rng.integers(len(cells))] + steps[rng.integers(6)]
        if np.all((grown >= 0) & (grown < r)):
            occ[tuple(grown)] = True
    return occ


def _outer_layer(occ: np.ndarray) -> np.ndarray:
    """Occupied voxels with an empty 6-neighbour (or on the grid's border)."""
    padded = np.pad(occ, 1)
    empty_neighbour = np.zeros_like(occ)
    for axis in range(3):
        for step in (1, -1):
            empty_neighbour |= ~np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return occ & empty_neighbour


# ---------------------------------------------------------------- occupancy
def test_rotated_cube_volume_and_the_result_layout():
    vertices, quads = _box(CENTRE - 7, CENTRE + 7)
    vertices, m = _rotated(vertices, CENTRE)
    grid = voxelize(vertices, quads, R, fit="grid")
    assert grid.shape == (4, R, R, R) and grid.dtype == np.float32
    assert set(np.unique(grid[3])) == {0.0, 1.0}
    assert grid[3].sum() == pytest.approx(14.0**3, rel=VOLUME_TOLERANCE)
    local = np.einsum("ji,jxyz->ixyz", m, CENTRES - CENTRE[:, None, None, None])  # back in the box's frame
    inside = np.all(np.abs(local) <= 7, axis=0)
    assert (grid[3].astype(bool) != inside).sum() == 0, "every centre decided as the box says"


def test_uv_sphere_volume():
    vertices, faces = _uv_sphere(CENTRE, 10.0)
    vertices = _rotated(vertices, CENTRE)[0]
    assert _signed_volume(vertices, faces) > 0, "the test sphere must be wound outward"
    count = voxelize(vertices, faces, R, fit="grid")[3].sum()
    assert count == pytest.approx(4 / 3 * np.pi * 10.0**3, rel=VOLUME_TOLERANCE)


def test_torus_volume_and_hole():
    vertices, faces = _torus(CENTRE, 9.0, 4.0)
    vertices = _rotated(vertices, CENTRE, (0.4, -0.2, 0.9))[0]
    grid = voxelize(vertices, faces, R, fit="grid")
    assert grid[3].sum() == pytest.approx(2 * np.pi**2 * 9.0 * 4.0**2, rel=VOLUME_TOLERANCE)
    assert grid[3, 16, 16, 16] == 0, "the torus' hole stays empty"


def test_cube_mesh_round_trip_gives_the_same_occupancy():
    for seed in range(4):
        occ = _blob(np.random.default_rng(seed))
        grid = np.zeros((4, *occ.shape), np.float32)
        grid[:, occ] = 1.0
        mesh = cube_mesh(grid, size=occ.shape[0])  # one object unit per voxel, centred in x/y, on z = 0
        lattice = mesh.vertices + np.array([occ.shape[0] / 2, occ.shape[1] / 2, 0.0], np.float32)
        back = voxelize(lattice, mesh.faces, occ.shape[0], fit="grid")
        np.testing.assert_array_equal(back[3].astype(bool), occ, err_msg=f"seed {seed}")


def test_rays_through_vertices_edges_and_faces_are_decided_as_one_nudged_point():
    """An octahedron whose vertices, edges and faces go through voxel centres: every centre is decided as the
    point nudged by (dx >> dy >> dz > 0) would be, along all three axes alike (so none is counted twice)."""
    for centre, a in [((16.5, 16.5, 16.5), 8.0), ((16.5, 15.5, 14.5), 11.0), ((16.0, 16.0, 16.0), 7.5)]:
        c = np.array(centre)
        vertices = np.array([[a, 0, 0], [-a, 0, 0], [0, a, 0], [0, -a, 0], [0, 0, a], [0, 0, -a]]) + c
        faces = []
        for sx, x in ((1, 0), (-1, 1)):
            for sy, y in ((1, 2), (-1, 3)):
                for sz, z in ((1, 4), (-1, 5)):
                    faces.append([x, y, z] if sx * sy * sz > 0 else [x, z, y])
        winding = vz._winding(vertices[np.array(faces)], R)
        assert set(np.unique(winding)) == {0.0, 1.0}, "a closed mesh gives the same integer along every ray"
        d = CENTRES - c[:, None, None, None]
        taxicab = np.abs(d).sum(axis=0)
        expected = (taxicab < a) | ((taxicab == a) & (d[0] < 0))  # on the surface: inside iff dx moves inward
        np.testing.assert_array_equal(voxelize(vertices, np.array(faces), R, fit="grid")[3].astype(bool), expected)


def test_overlapping_parts_of_a_block_out_fill_their_union():
    va, qa = _box(CENTRE - [10, 4, 4], CENTRE + [2, 4, 4])
    vb, qb = _box(CENTRE - [2, 6, 6], CENTRE + [8, 6, 2])
    grid = voxelize(np.concatenate([va, vb]), np.concatenate([qa, qb + 8]), R, fit="grid")

    def inside(lo, hi):
        lo, hi = np.asarray(lo)[:, None, None, None], np.asarray(hi)[:, None, None, None]
        return np.all((CENTRES >= lo) & (CENTRES <= hi), axis=0)

    union = inside(CENTRE - [10, 4, 4], CENTRE + [2, 4, 4]) | inside(CENTRE - [2, 6, 6], CENTRE + [8, 6, 2])
    np.testing.assert_array_equal(grid[3].astype(bool), union)


def test_open_meshes_fill_what_most_rays_see_inside():
    vertices, quads = _box(CENTRE - 8, CENTRE + 8)
    no_lid = np.delete(quads, 5, axis=0)  # the +z face removed
    box = np.all(np.abs(CENTRES - CENTRE[:, None, None, None]) <= 8, axis=0)
    np.testing.assert_array_equal(voxelize(vertices, no_lid, R, fit="grid")[3].astype(bool), box)
    sphere_v, sphere_f = _uv_sphere(CENTRE, 12.0)
    holed = sphere_f[sphere_v[sphere_f].mean(axis=1)[:, 2] < CENTRE[2] + 11.0]  # a cap cut off at the pole
    ball = ((CENTRES - CENTRE[:, None, None, None]) ** 2).sum(axis=0) <= 144
    count = voxelize(sphere_v, holed, R, fit="grid")[3]
    assert (count.astype(bool) != ball).sum() < 0.02 * ball.sum()
    column, below_cut = count[16, 16].astype(bool), CENTRES[2, 16, 16] < CENTRE[2] + 10.5
    assert column[ball[16, 16] & below_cut].all(), "the column under the hole is filled"
    assert not column[~ball[16, 16]].any(), "and nothing leaks out of the hole (parity would fill above it)"


def test_inside_out_mesh_is_filled_too():
    vertices, quads = _box(CENTRE - 6, CENTRE + 6)
    normal = voxelize(vertices, quads, R, fit="grid")
    np.testing.assert_array_equal(voxelize(vertices, quads[:, ::-1], R, fit="grid"), normal)


# ---------------------------------------------------------------- placement
def test_fit_constants_are_the_training_envelope():
    from diffusion_core.data import shapes

    assert (vz.FIT_RADIUS, vz.FIT_TOP, vz.FIT_FLOOR) == (shapes.MAX_RADIUS, shapes.MAX_TOP, shapes.FLOOR)


def test_fit_fill_is_the_median_training_object():
    from diffusion_core.data.shapes import CLASS_NAMES, make_shapes

    rng, fills = np.random.default_rng(0), []
    for name in CLASS_NAMES:
        for shape in make_shapes(name, R, rng, rng.random(8)):
            cells = np.argwhere(shape[3] > 0.5)
            low, high = cells.min(axis=0), cells.max(axis=0) + 1
            columns = np.concatenate([cells[:, :2] + corner for corner in ([0, 0], [1, 0], [0, 1], [1, 1])])
            footprint = np.sqrt(((columns - (low[:2] + high[:2]) / 2) ** 2).sum(axis=1)).max()
            fills.append(max(footprint / (vz.FIT_RADIUS * R / 2),
                             (high[2] - low[2]) / ((vz.FIT_TOP - vz.FIT_FLOOR) * R / 2)))
    assert np.median(fills) == pytest.approx(vz.FIT_FILL, abs=0.05)


def test_object_fit_stands_on_the_floor_centred_inside_the_footprint():
    # Blender's default cube (2 m, centred on the origin): its footprint radius sqrt(2) becomes 0.84 * 13.6 voxels.
    vertices, quads = _box([-1, -1, -1], [1, 1, 1])
    occ = voxelize(vertices + [5.0, -3.0, 7.0], quads, R)[3].astype(bool)
    side = 2 * 0.84 * 0.85 * 16 / np.sqrt(2)  # 16.16 voxels, from 16 - side / 2 = 7.92 to 24.08 in x and y
    cells = np.argwhere(occ)
    np.testing.assert_array_equal(cells.min(axis=0), [8, 8, 0])
    np.testing.assert_array_equal(cells.max(axis=0), [23, 23, int(side - 0.5)])
    # A tall post: its height reaches 0.84 of the top limit (24.2 voxels) before its footprint does.
    vertices, quads = _box([0, 0, 0], [0.3, 0.3, 4])
    cells = np.argwhere(voxelize(vertices, quads, R)[3])
    assert cells[:, 2].min() == 0 and cells[:, 2].max() == 23
    assert np.allclose(cells[:, :2].mean(axis=0), 15.5)


def test_object_fit_ignores_loose_vertices_and_is_scale_free():
    vertices, quads = _box([0, 0, 0], [1, 2, 3])
    grid = voxelize(vertices, quads, R)
    np.testing.assert_array_equal(voxelize(vertices * 37.0 - 5.0, quads, R), grid)
    with_loose = np.concatenate([vertices, [[100.0, 100.0, 100.0]]])
    np.testing.assert_array_equal(voxelize(with_loose, quads, R), grid)


# ---------------------------------------------------------------- colours
FACE_COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]], float)


@pytest.mark.parametrize("as_triangles", [False, True])
def test_face_colours_land_on_the_voxels_next_to_them(as_triangles):
    vertices, quads = _box([4, 4, 4], [28, 28, 28])
    faces, colours = (_triangles(quads), np.tile(FACE_COLOURS, (2, 1))) if as_triangles else (quads, FACE_COLOURS)
    grid = voxelize(vertices, faces, R, face_colors=colours, fit="grid")
    inner = slice(6, 26)  # away from the edges, where two faces are equally near
    layers = [(0, 4), (0, 27), (1, 4), (1, 27), (2, 4), (2, 27)]  # the voxel layer behind each face
    for colour, (axis, index) in zip(FACE_COLOURS, layers):
        rgb = np.moveaxis(grid[:3], axis + 1, 1)[:, index, inner, inner]
        np.testing.assert_array_equal(rgb, np.broadcast_to(colour[:, None, None], rgb.shape))
    assert np.all(grid[:3, 4:28, 4:28, 4:28].max(axis=0) == 1.0), "every inside voxel takes some face's colour"
    assert np.all(grid[:3][:, grid[3] == 0] == 0), "RGB is 0 outside"


def test_vertex_colours_of_separate_parts_stay_apart():
    va, qa = _box([3, 3, 0], [14, 14, 12])
    vb, qb = _box([17, 5, 2], [29, 27, 26])
    colours = np.concatenate([np.tile([0.9, 0.1, 0.1, 1.0], (8, 1)), np.tile([0.1, 0.2, 0.9, 0.5], (8, 1))])
    grid = voxelize(np.concatenate([va, vb]), np.concatenate([qa, qb + 8]), R, vertex_colors=colours, fit="grid")
    for part, colour in [((3, 14, 3, 14, 0, 12), [0.9, 0.1, 0.1]), ((17, 29, 5, 27, 2, 26), [0.1, 0.2, 0.9])]:
        rgb = grid[:3, part[0]:part[1], part[2]:part[3], part[4]:part[5]].reshape(3, -1)
        np.testing.assert_allclose(rgb, np.broadcast_to(np.array(colour)[:, None], rgb.shape), atol=1e-6)


def test_vertex_colours_are_interpolated_over_the_faces():
    vertices, faces = _uv_sphere(CENTRE, 12.0)
    vertices = _rotated(vertices, CENTRE)[0]
    colours = np.clip((vertices - CENTRE + 12.5) / 25.0, 0, 1)  # a linear ramp along each axis
    grid = voxelize(vertices, faces, R, vertex_colors=colours, fit="grid")
    shell = _outer_layer(grid[3].astype(bool))
    expected = np.clip((CENTRES[:, shell] - CENTRE[:, None] + 12.5) / 25.0, 0, 1)
    assert np.abs(grid[:3, shell] - expected).max() < 1.5 / 25.0, "within a voxel and a half of the ramp"


def test_cube_mesh_colours_come_back_on_the_outer_layer():
    rng = np.random.default_rng(7)
    occ = _blob(rng)
    grid = np.zeros((4, *occ.shape), np.float32)
    grid[:3, occ] = rng.random((3, occ.sum()))
    grid[3, occ] = 1.0
    mesh = cube_mesh(grid, size=occ.shape[0])
    lattice = mesh.vertices + np.array([occ.shape[0] / 2, occ.shape[1] / 2, 0.0], np.float32)
    back = voxelize(lattice, mesh.faces, occ.shape[0], face_colors=mesh.face_colors, fit="grid")
    shell = _outer_layer(occ)
    np.testing.assert_allclose(back[:3, shell], grid[:3, shell], atol=1e-6)


def test_colour_precedence_and_defaults():
    vertices, quads = _box([4, 4, 4], [12, 12, 12])
    plain = voxelize(vertices, quads, 16, fit="grid")
    inside = plain[3] == 1
    np.testing.assert_allclose(plain[:3, inside].T, np.tile(MASK_DEFAULT_RGB, (inside.sum(), 1)))
    based = voxelize(vertices, quads, 16, base_color=(0.2, 0.4, 1.7), fit="grid")
    np.testing.assert_allclose(based[:3, inside].T, np.tile([0.2, 0.4, 1.0], (inside.sum(), 1)))  # clipped
    both = voxelize(vertices, quads, 16, face_colors=np.tile([0.3, 0.6, 0.9], (6, 1)),
                    vertex_colors=np.zeros((8, 3)), base_color=(1, 1, 1), fit="grid")
    np.testing.assert_allclose(both[:3, inside].T, np.tile([0.3, 0.6, 0.9], (inside.sum(), 1)), atol=1e-6)


# ---------------------------------------------------------------- faces of any kind
def test_quads_triangles_and_polygon_lists_agree():
    vertices, quads = _box(CENTRE - 6, CENTRE + 6)
    vertices = _rotated(vertices, CENTRE)[0]
    reference = voxelize(vertices, _triangles(quads), R, fit="grid")
    np.testing.assert_array_equal(voxelize(vertices, quads, R, fit="grid"), reference)
    mixed = [list(q) for q in quads[:5]] + [list(quads[5, [0, 1, 2]]), list(quads[5, [0, 2, 3]])]
    np.testing.assert_array_equal(voxelize(vertices, mixed, R, fit="grid"), reference)
    np.testing.assert_array_equal(voxelize(vertices.tolist(), quads.tolist(), R, fit="grid"), reference)


def test_unwelded_vertices_do_not_open_the_mesh():
    """Importers split vertices at UV seams: every triangle with its own three vertices is still closed."""
    vertices, faces = _torus(CENTRE, 9.0, 4.0)
    vertices = _rotated(vertices, CENTRE, (0.4, -0.2, 0.9))[0]
    unwelded = vertices[faces].reshape(-1, 3)
    np.testing.assert_array_equal(voxelize(unwelded, np.arange(len(unwelded)).reshape(-1, 3), R, fit="grid"),
                                  voxelize(vertices, faces, R, fit="grid"))


def test_ngons_are_fanned():
    k = 12  # a prism over a regular 12-gon, its caps as single polygons
    angles = np.arange(k) * 2 * np.pi / k
    ring = np.stack([np.cos(angles), np.sin(angles)], 1) * 10 + CENTRE[:2]
    vertices = np.concatenate([np.c_[ring, np.full(k, 4.0)], np.c_[ring, np.full(k, 24.0)]])
    sides = [[i, (i + 1) % k, k + (i + 1) % k, k + i] for i in range(k)]
    faces = [list(range(k))[::-1], list(range(k, 2 * k))] + sides
    count = voxelize(vertices, faces, R, fit="grid")[3].sum()
    assert count == pytest.approx(0.5 * k * 100 * np.sin(2 * np.pi / k) * 20, rel=VOLUME_TOLERANCE)


# ---------------------------------------------------------------- bad inputs
CUBE_V, CUBE_Q = _box([0, 0, 0], [1, 1, 1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(faces=np.zeros((0, 3), np.int32)), "no faces"),
        (dict(faces=[]), "no faces"),
        (dict(vertices=np.ones((8, 3))), "no size"),
        (dict(vertices=np.where(np.arange(8)[:, None] == 3, np.nan, CUBE_V)), "finite"),
        (dict(vertices=np.where(np.arange(8)[:, None] == 3, np.inf, CUBE_V)), "finite"),
        (dict(faces=CUBE_Q + 1), "vertex 8"),
        (dict(faces=CUBE_Q - 1), "vertex -1"),
        (dict(faces=[[0, 1, 2], [0, 1, 99]]), "vertex 99"),
        (dict(vertices=CUBE_V[:, :2]), "shape"),
        (dict(vertices=CUBE_V.ravel()), "shape"),
        (dict(vertices=CUBE_V.astype(complex)), "real numbers"),
        (dict(faces=CUBE_Q[:, :2]), "shape"),
        (dict(faces=CUBE_Q.ravel()), "shape"),
        (dict(faces=CUBE_Q.astype(float)), "integer"),
        (dict(faces=[[0, 1, 2, 3], [4, 5]]), "at least 3"),
        (dict(vertex_colors=np.ones((7, 3))), "vertex_colors"),
        (dict(vertex_colors=np.ones((8, 2))), "vertex_colors"),
        (dict(face_colors=np.ones((12, 3))), "face_colors"),
        (dict(face_colors=np.full((6, 3), np.nan)), "finite"),
        (dict(base_color=(1.0, 0.5)), "base_color"),
        (dict(base_color=(1.0, np.nan, 0.5)), "finite"),
        (dict(resolution=0), "resolution"),
        (dict(resolution=16.0), "resolution"),
        (dict(resolution=True), "resolution"),
        (dict(fit="bounds"), "fit"),
        (dict(faces=[[0, 1, 3, 2]]), "encloses no voxel"),  # a single face: flat, nothing inside
        (dict(vertices=CUBE_V + 100, fit="grid"), "inside the grid"),
    ],
)
def test_bad_inputs_raise_a_readable_value_error(kwargs, message):
    args = dict(vertices=CUBE_V, faces=CUBE_Q, resolution=16) | kwargs
    with pytest.raises(ValueError, match=message):
        voxelize(args.pop("vertices"), args.pop("faces"), args.pop("resolution"), **args)


def test_a_lone_tilted_triangle_encloses_nothing():
    """Three of the six rays cross a tilted plane (mean 1/2): that is not inside."""
    with pytest.raises(ValueError, match="encloses no voxel"):
        voxelize(np.eye(3), np.array([[0, 1, 2]]), 8)
