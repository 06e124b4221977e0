"""Voxel Diffusion Blender extension: registration only.

Two layers, one folder each: `shared/` needs neither bpy nor torch (protocol, client, meshing, colours,
background jobs; the server imports it too), `blender/` is the bpy side. Nothing from bpy is imported at
module level here, so `shared` imports cleanly outside Blender.
"""


def register() -> None:
    from .blender import registration

    registration.register()


def unregister() -> None:
    from .blender import registration

    registration.unregister()
