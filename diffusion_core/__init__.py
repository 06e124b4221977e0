"""Voxel diffusion core: schedules, samplers, the 3D UNet, synthetic data, training (torch + numpy only)."""
