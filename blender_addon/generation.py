"""What one generated object is made from (bpy-free): parameters, quality presets, object names.

The same `GenerationParams` is sent to the server, stored on the Blender object (as a flat dict of
custom-property-friendly values) and read back by Regenerate / Variation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

from .protocol import DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS

MeshStyle = Literal["smooth", "cubes"]
Sampler = Literal["ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde"]

QUALITY_PRESETS: dict[str, tuple[int, Sampler]] = {
    "DRAFT": (10, DEFAULT_SAMPLER),
    "NORMAL": (DEFAULT_STEPS, DEFAULT_SAMPLER),
    "HIGH": (100, DEFAULT_SAMPLER),
}
"""Quality preset -> (sampling steps, sampler). "CUSTOM" uses the explicit steps/sampler."""

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class GenerationParams:
    """Everything that determines one generated object (same params + same model -> same object)."""

    class_name: str
    seed: int
    steps: int = DEFAULT_STEPS
    sampler: Sampler = DEFAULT_SAMPLER
    guidance: float = DEFAULT_GUIDANCE
    mesh_style: MeshStyle = "smooth"
    threshold: float = DEFAULT_ALPHA_THRESHOLD
    size: float = 1.0

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
        """Inverse of `to_dict`; ignores unknown keys, coerces types (custom properties may be IDProperty values)."""
        kwargs = {}
        for f in fields(cls):
            if f.name in data:
                default = getattr(cls, f.name, None) if f.name not in ("class_name", "seed") else None
                cast = {"class_name": str, "seed": int}.get(f.name) or type(default)
                kwargs[f.name] = cast(data[f.name])
        return cls(**kwargs)


def preset_steps(quality: str, custom_steps: int, custom_sampler: Sampler) -> tuple[int, Sampler]:
    """Resolve a quality preset name (DRAFT/NORMAL/HIGH/CUSTOM) to (steps, sampler)."""
    return QUALITY_PRESETS.get(quality, (custom_steps, custom_sampler))
