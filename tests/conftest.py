"""Shared pytest settings: keep torch on one thread so parallel CI work stays predictable."""
import torch

torch.set_num_threads(1)
