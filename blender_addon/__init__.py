"""Voxel Diffusion Blender extension: registration only.

Nothing from bpy is imported at module level, so the bpy-free modules (protocol, client, meshing,
colors) import cleanly outside Blender (the server and the tests use them).
"""


def register() -> None:
    from . import registration

    registration.register()


def unregister() -> None:
    from . import registration

    registration.unregister()
