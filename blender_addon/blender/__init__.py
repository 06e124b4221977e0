"""The Blender layer: everything here may import bpy, and only this folder may.

It builds on `..shared` (protocol, client, meshing, colours, background jobs) and nothing else of the
project. The scripting API is `api`.
"""
from __future__ import annotations

ADDON_PACKAGE = __package__.rpartition(".")[0]
"""The add-on's own package (`blender_addon` from a checkout, `bl_ext.<repo>.voxel_diffusion` installed):
the key of its preferences and of its user-data folder."""
