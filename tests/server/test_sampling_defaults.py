"""Every entry point samples with the same defaults: blender_addon.protocol DEFAULT_* (what the README's
evaluation measures). The core library cannot import the add-on, so this test keeps its copies equal."""
from __future__ import annotations

import argparse
import inspect
from typing import get_args

from blender_addon import protocol as p
from blender_addon.generation import QUALITY_PRESETS, GenerationParams, Sampler
from diffusion_core.evaluate import EvalSettings
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.samplers import SAMPLER_NAMES, SamplerName
from server.sampling_args import add_sampling_arguments

DEFAULTS = {"steps": p.DEFAULT_STEPS, "sampler": p.DEFAULT_SAMPLER, "guidance": p.DEFAULT_GUIDANCE}


def test_panel_api_request_and_cli_defaults_agree():
    params = GenerationParams(class_name="chair", seed=0)
    assert {k: getattr(params, k) for k in DEFAULTS} == DEFAULTS
    assert params.threshold == p.DEFAULT_ALPHA_THRESHOLD
    assert QUALITY_PRESETS["NORMAL"] == (p.DEFAULT_STEPS, p.DEFAULT_SAMPLER)
    request = p.GenerateRequest.from_wire({"class_label": "chair"}, [])
    assert {k: getattr(request, k) for k in DEFAULTS} == DEFAULTS
    parser = argparse.ArgumentParser()
    add_sampling_arguments(parser)
    args = parser.parse_args([])
    assert {k: getattr(args, k) for k in DEFAULTS} == DEFAULTS
    assert (args.eta, args.alpha_threshold) == (0.0, p.DEFAULT_ALPHA_THRESHOLD)


def test_the_core_library_and_the_wire_know_the_same_samplers():
    assert SAMPLER_NAMES == p.SAMPLERS
    assert set(get_args(Sampler)) == set(get_args(SamplerName)) == set(p.SAMPLERS)


def test_core_library_defaults_are_the_panels():
    settings = EvalSettings()
    assert {k: getattr(settings, k) for k in DEFAULTS} == DEFAULTS
    assert settings.alpha_threshold == p.DEFAULT_ALPHA_THRESHOLD
    for method in (VoxelGenerator.generate, VoxelGenerator.generate_progressive):
        sig = inspect.signature(method).parameters
        assert (sig["steps"].default, sig["sampler"].default, sig["guidance_scale"].default) == (
            p.DEFAULT_STEPS, p.DEFAULT_SAMPLER, p.DEFAULT_GUIDANCE)
