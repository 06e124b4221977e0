"""Every entry point samples with the same defaults: blender_addon.shared.protocol DEFAULT_* (what the README's
evaluation measures). The core library cannot import the add-on, so this test keeps its copies equal."""
from __future__ import annotations

import argparse
import inspect

from blender_addon.shared import protocol as p
from blender_addon.shared import settings as s
from blender_addon.shared.generation import QUALITY_PRESETS, GenerationParams
from diffusion_core.evaluation.evaluate import EvalSettings
from diffusion_core.pipeline import VoxelGenerator
from blender_addon.shared.sampling_args import add_sampling_arguments

DEFAULTS = {"steps": s.DEFAULT_STEPS, "sampler": s.DEFAULT_SAMPLER, "guidance": s.DEFAULT_GUIDANCE}


def test_panel_api_request_and_cli_defaults_agree():
    params = GenerationParams(class_name="chair", seed=0)
    assert {k: getattr(params, k) for k in DEFAULTS} == DEFAULTS
    assert params.alpha_threshold == s.DEFAULT_ALPHA_THRESHOLD
    assert QUALITY_PRESETS["NORMAL"] == (s.DEFAULT_STEPS, s.DEFAULT_SAMPLER)
    request = p.GenerateRequest.from_wire({"class_label": "chair"}, [])
    assert {k: getattr(request, k) for k in DEFAULTS} == DEFAULTS
    parser = argparse.ArgumentParser()
    add_sampling_arguments(parser)
    args = parser.parse_args([])
    assert {k: getattr(args, k) for k in DEFAULTS} == DEFAULTS
    assert (args.eta, args.alpha_threshold) == (0.0, s.DEFAULT_ALPHA_THRESHOLD)


def test_core_library_defaults_are_the_panels():
    settings = EvalSettings()
    assert {k: getattr(settings, k) for k in DEFAULTS} == DEFAULTS
    assert settings.alpha_threshold == s.DEFAULT_ALPHA_THRESHOLD
    for method in (VoxelGenerator.generate, VoxelGenerator.generate_progressive):
        sig = inspect.signature(method).parameters
        assert (sig["steps"].default, sig["sampler"].default, sig["guidance_scale"].default) == (
            s.DEFAULT_STEPS, s.DEFAULT_SAMPLER, s.DEFAULT_GUIDANCE)
