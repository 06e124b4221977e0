"""What one generated object is made from (bpy-free): parameters, quality presets, object names.

The same `GenerationParams` is sent to the server, stored on the Blender object (as a flat dict of
custom-property-friendly values) and read back by Regenerate / Variation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE, DEFAULT_SAMPLER,
                       DEFAULT_STEPS, MeshStyle, Sampler)


QUALITY_PRESETS: dict[str, tuple[int, Sampler]] = {
    "DRAFT": (10, DEFAULT_SAMPLER),
    "NORMAL": (DEFAULT_STEPS, DEFAULT_SAMPLER),
    "HIGH": (100, DEFAULT_SAMPLER),
}
"""Quality preset -> (sampling steps, sampler). "CUSTOM" uses the explicit steps/sampler."""

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

    def with_seed(self, seed: int) -> GenerationParams:
        return replace(self, seed=int(seed))

    def object_name(self) -> str:
        """Blender object name: "<class>_<seed>"."""
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
                cast = {"class_name": str, "seed": int, "model": str}.get(f.name) or type(default)
                kwargs[f.name] = cast(data[f.name])
        return cls(**kwargs)


def preset_steps(quality: str, custom_steps: int, custom_sampler: Sampler) -> tuple[int, Sampler]:
    """Resolve a quality preset name (DRAFT/NORMAL/HIGH/CUSTOM) to (steps, sampler)."""
    return QUALITY_PRESETS.get(quality, (custom_steps, custom_sampler))
