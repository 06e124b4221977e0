"""Model server, wire-side job handling and command-line tools for Voxel Diffusion."""

__version__ = "0.1.0"
