"""What one generated object is made from (bpy-free): parameters, quality presets, object names, and the
artist's edits (a start grid, a region box, a blend, a palette).

The same `GenerationParams` is sent to the server, stored on the Blender object (as a flat dict of
custom-property-friendly values) and read back by Regenerate / Variation. The grids an edit starts from are
arrays, so they travel beside the params as a `StartGrid`, never inside them; the params only record that
an object came from one (`from_grid`), which is why such an object cannot be regenerated from its params.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .meshing import MeshArrays
from .settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_JOIN_PARTS, DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE, DEFAULT_SAMPLER,
                       DEFAULT_STEPS, MeshStyle, Sampler)
from .vox import vox_start_grid

if TYPE_CHECKING:
    from .protocol import ModelInfo


QUALITY_PRESETS: dict[str, tuple[int, Sampler]] = {
    "DRAFT": (10, DEFAULT_SAMPLER),
    "NORMAL": (DEFAULT_STEPS, DEFAULT_SAMPLER),
    "HIGH": (100, DEFAULT_SAMPLER),
}
"""Quality preset -> (sampling steps, sampler). "CUSTOM" uses the explicit steps/sampler."""

NO_BLEND = -1
"""`GenerationParams.blend_seed` of objects that are not in-betweens (custom properties hold no None)."""

NO_HUE = -1.0
"""`GenerationParams.hue` when no colour is asked for: the object's own, drawn from its seed."""

_RENAMED = {"threshold": "alpha_threshold", "size": "mesh_size"}  # stored keys of objects made before 0.2


@dataclass(frozen=True)
class GenerationParams:
    """Everything that determines one generated object (same params + same model -> same object)."""

    class_name: str
    seed: int
    model: str = ""  # which of the server's models ("": its default)
    steps: int = DEFAULT_STEPS
    sampler: Sampler = DEFAULT_SAMPLER
    guidance: float = DEFAULT_GUIDANCE
    mesh_style: MeshStyle = DEFAULT_MESH_STYLE
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD
    mesh_size: float = DEFAULT_MESH_SIZE
    join_parts: bool = DEFAULT_JOIN_PARTS  # join pieces where the object breaks at the threshold
    strength: float = 1.0  # below 1: sampled from a start grid (Generate from selected), SDEdit
    inpainted: bool = False  # a region was regenerated; the rest kept an earlier grid
    blend_seed: int = NO_BLEND  # >= 0: in-between `blend_index` of `blend_count` from seed's object to blend_seed's
    blend_index: int = 0
    blend_count: int = 1
    palette: str = ""  # colours snapped to: "" none, "K" (a number: K colours of its own), a preset, or "#rrggbb,..."
    hue: float = NO_HUE  # the main colour asked of a model that takes one, in [0, 1] from red; NO_HUE: the seed's own

    def __post_init__(self) -> None:
        if isinstance(self.hue, bool) or not isinstance(self.hue, numbers.Real) or (
                self.hue != NO_HUE and not 0.0 <= self.hue <= 1.0):
            raise ValueError(f"hue must be a number in [0, 1] (turns of the colour wheel from red), got {self.hue!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1] (1: plain generation, 0: the start grid), got {self.strength}")
        if self.blend_seed != NO_BLEND and not (0 <= self.blend_seed and 0 <= self.blend_index < self.blend_count):
            raise ValueError(f"a blend needs a seed >= 0 and an index below its count, got seed {self.blend_seed}, "
                             f"{self.blend_index} of {self.blend_count}")
        palette_kwargs(self.palette)  # raises ValueError for a bad palette

    @property
    def is_blend(self) -> bool:
        return self.blend_seed != NO_BLEND

    @property
    def from_grid(self) -> bool:
        """Made from a grid the params do not hold (a start grid, or an earlier grid around a region)."""
        return self.strength < 1.0 or self.inpainted

    @property
    def count(self) -> int:
        """Objects one request for these params makes: a blend's whole row, else one."""
        return self.blend_count if self.is_blend else 1

    def with_seed(self, seed: int) -> GenerationParams:
        return replace(self, seed=int(seed))

    def plain(self) -> GenerationParams:
        """The same settings for plain generation (no start grid, region or blend; the palette kept)."""
        return replace(self, strength=1.0, inpainted=False, blend_seed=NO_BLEND, blend_index=0, blend_count=1)

    def object_name(self) -> str:
        """Blender object name: "<class>_<seed>"; a blend's in-betweens "<class>_<seed>-<blend_seed>_<index>"."""
        if self.is_blend:
            return f"{self.class_name}_{self.seed}-{self.blend_seed}_{self.blend_index}"
        return f"{self.class_name}_{self.seed}"

    def to_dict(self) -> dict[str, str | int | float]:
        """Flat dict of plain values (stored as Blender custom properties)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GenerationParams:
        """Inverse of `to_dict`; ignores unknown keys, coerces types (custom properties may be IDProperty values).
        Objects generated before 0.2 stored `threshold` and `size`; they read as alpha_threshold and mesh_size."""
        data = {_RENAMED.get(k, k): v for k, v in data.items()}
        kwargs = {}
        for f in fields(cls):
            if f.name in data:
                default = getattr(cls, f.name, None) if f.name not in ("class_name", "seed") else None
                cast = {"class_name": str, "seed": int, "model": str, "inpainted": bool}.get(f.name) or type(default)
                kwargs[f.name] = cast(data[f.name])
        return cls(**kwargs)


class GeneratedObject(NamedTuple):
    """One finished object: its params, the mesh to build, and its voxels float32 [C, R, R, R] (after any
    palette snap: what the mesh shows), kept on the Blender object for Regenerate Region and Export .vox."""

    params: GenerationParams
    mesh: MeshArrays
    voxels: np.ndarray


def preset_steps(quality: str, custom_steps: int, custom_sampler: Sampler) -> tuple[int, Sampler]:
    """Resolve a quality preset name (DRAFT/NORMAL/HIGH/CUSTOM) to (steps, sampler)."""
    return QUALITY_PRESETS.get(quality, (custom_steps, custom_sampler))


def palette_kwargs(palette: str) -> dict:
    """`GenerationParams.palette` -> the keywords of `palette.snap_to_palette` ({} for no palette).
    "8": k=8; "pico8": a preset; "#rrggbb,#rrggbb,...": those colours. Raises ValueError naming the problem."""
    from .palette import MAX_COLOURS, PRESETS, parse_palette

    text = palette.strip()
    if not text:
        return {}
    if text.isdigit():
        if not 1 <= int(text) <= MAX_COLOURS:
            raise ValueError(f"a palette of K colours needs K in 1..{MAX_COLOURS}, got {text}")
        return {"k": int(text)}
    if text.startswith("#"):
        colours = [c.strip() for c in text.split(",")]
        parse_palette(colours)
        return {"palette": colours}
    if text not in PRESETS:
        raise ValueError(f"unknown palette {text!r}: give a number of colours, '#rrggbb,...' or one of "
                         f"{', '.join(sorted(PRESETS))}")
    return {"palette": text}


@dataclass(frozen=True)
class StartGrid:
    """The grid an edit starts from, at a model's resolution: init float32 [C, R, R, R] in [0, 1]; region
    bool [R, R, R] or None (with a region only the voxels inside it are generated again)."""

    init: np.ndarray = field(compare=False)
    region: np.ndarray | None = field(default=None, compare=False)


GridSource = Callable[["ModelInfo"], StartGrid]
"""Makes the start grid for the model a request will run on (a mesh is voxelised at its resolution); called on
the job's worker thread once the server's info is in."""


def vox_source(path: str | os.PathLike) -> GridSource:
    """The start grid of a MagicaVoxel file, for whichever model the request runs on (read on the job's thread)."""
    return lambda model: StartGrid(init=vox_start_grid(path, model.resolution, model.channels))


def region_box(box: Sequence[int], resolution: int) -> np.ndarray:
    """(x0, y0, z0, x1, y1, z1) voxel indices, the ends exclusive -> bool [R, R, R], True inside.
    Raises ValueError unless it is a non-empty box inside the grid."""
    try:
        x0, y0, z0, x1, y1, z1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"a region box is six voxel indices (x0, y0, z0, x1, y1, z1), got {box!r}") from None
    r = resolution
    if not (0 <= x0 < x1 <= r and 0 <= y0 < y1 <= r and 0 <= z0 < z1 <= r):
        raise ValueError(f"region box {(x0, y0, z0, x1, y1, z1)} is not a non-empty box inside the {r}^3 grid "
                         f"(indices 0..{r}, each start below its end)")
    region = np.zeros((r, r, r), bool)
    region[x0:x1, y0:y1, z0:z1] = True
    return region


def box_from_bounds(lo: Sequence[float], hi: Sequence[float], resolution: int) -> tuple[int, int, int, int, int, int]:
    """The voxels whose centres lie in the axis-aligned box [lo, hi] (lattice units, voxel (i, j, k) spanning
    [i, i+1] x ...), clipped to the grid, as (x0, y0, z0, x1, y1, z1). Raises ValueError when none do."""
    start = np.clip(np.ceil(np.asarray(lo, np.float64) - 0.5), 0, resolution).astype(int)
    end = np.clip(np.floor(np.asarray(hi, np.float64) - 0.5) + 1, 0, resolution).astype(int)
    if np.any(end <= start):
        raise ValueError("the helper's bounds hold no voxel centre of the object's grid: move or scale it over "
                         "the part to regenerate")
    return (*start.tolist(), *end.tolist())
