"""The shared layer: code that needs neither bpy nor torch (stdlib, numpy, pyzmq, scikit-image).

Imported by the Blender layer (`..blender`), the server and the core; it imports nothing else of the
project. `settings` (sampling defaults and ranges) is the bottom of the dependency graph.
"""
