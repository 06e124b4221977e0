"""Every entry point samples with blender_addon.shared.settings (what the README's evaluation measures): the
panel's parameters, a generate request that leaves the fields out, the CLI flags, eval, and the core's
generator; the core's sampler takes its settings as required arguments."""
from __future__ import annotations

import argparse
import inspect

import pytest

from blender_addon.shared import protocol as p
from blender_addon.shared import settings as s
from blender_addon.shared.generation import QUALITY_PRESETS, GenerationParams
from blender_addon.shared.sampling_args import add_sampling_arguments
from diffusion_core.diffusion.samplers import sample_progressive
from diffusion_core.evaluation.evaluate import EvalSettings
from diffusion_core.pipeline import VoxelGenerator

DEFAULTS = {"steps": s.DEFAULT_STEPS, "sampler": s.DEFAULT_SAMPLER, "eta": s.DEFAULT_ETA, "guidance": s.DEFAULT_GUIDANCE}


def _parsed_defaults() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sampling_arguments(parser)
    return parser.parse_args([])


@pytest.mark.parametrize("entry", ["request", "cli", "eval", "generator"])
def test_every_entry_point_defaults_to_the_settings(entry):
    if entry == "generator":
        sig = inspect.signature(VoxelGenerator.generate).parameters
        values = {k: sig[k].default for k in DEFAULTS}
    else:
        obj = {"request": lambda: p.GenerateRequest.from_wire({"class_label": "chair"}, {}),
               "cli": _parsed_defaults, "eval": EvalSettings}[entry]()
        values = {k: getattr(obj, k) for k in DEFAULTS}
        assert obj.alpha_threshold == s.DEFAULT_ALPHA_THRESHOLD
    assert values == DEFAULTS


def test_the_panel_defaults_to_the_settings():
    params = GenerationParams(class_name="chair", seed=0)
    assert (params.steps, params.sampler, params.guidance) == (s.DEFAULT_STEPS, s.DEFAULT_SAMPLER, s.DEFAULT_GUIDANCE)
    assert (params.alpha_threshold, params.mesh_style, params.mesh_size) == (
        s.DEFAULT_ALPHA_THRESHOLD, s.DEFAULT_MESH_STYLE, s.DEFAULT_MESH_SIZE)
    assert QUALITY_PRESETS["NORMAL"] == (s.DEFAULT_STEPS, s.DEFAULT_SAMPLER)
    for generate in (VoxelGenerator.generate, VoxelGenerator.generate_progressive):
        assert list(inspect.signature(generate).parameters)[3:7] == ["steps", "sampler", "eta", "guidance"]


def test_the_core_sampler_has_no_defaults_of_its_own():
    sig = inspect.signature(sample_progressive).parameters
    assert all(sig[k].default is inspect.Parameter.empty for k in ("steps", "sampler", "eta", "guidance"))
