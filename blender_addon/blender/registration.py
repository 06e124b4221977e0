"""Registers the add-on's classes, scene settings and runtime (imported lazily by __init__.register)."""
from __future__ import annotations

import bpy

from . import operators, panel, preferences, properties, runtime

_CLASSES = (*preferences.classes, *properties.classes, *operators.classes, *panel.classes)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register_properties()
    runtime.register_runtime()


def unregister() -> None:
    runtime.unregister_runtime()
    properties.unregister_properties()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
