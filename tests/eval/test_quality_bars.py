"""quality_bars on hand-built reports: each bar met or not at its limit, the worst class named."""
from __future__ import annotations

import copy

import pytest

from diffusion_core.evaluation.quality_bars import quality_bars

GOOD = {"accuracy": 0.99, "nna": 0.55, "connected": 0.99, "occupied_ratio": 1.0, "flatness": 0.95,
        "value": 0.77, "value_diff": -0.01, "hue_tv": 0.6, "object_hue_tv_all": 0.2}


def report(model_overall: dict | None = None, model_classes: dict | None = None) -> dict:
    """A report whose model meets every bar, with overrides: baseline nna 0.53, hue TVs 0.5 / 0.15,
    data flatness 1.0 and value 0.78; two classes a and b."""
    base = {**GOOD, "nna": 0.53, "connected": 1.0, "accuracy": 1.0, "flatness": 0.98, "value_diff": 0.0,
            "hue_tv": 0.5, "object_hue_tv_all": 0.15}
    model = {"overall": {**GOOD, **(model_overall or {})},
             "per_class": {name: {**GOOD, **(model_classes or {}).get(name, {})} for name in ("a", "b")}}
    return {"model": model, "reference_baseline": {"overall": base, "per_class": {"a": base, "b": base}},
            "reference_colour": {"flatness": 1.0, "value": 0.78}}


def met(bars: list[dict]) -> list[bool | None]:
    return [bar["met"] for bar in bars]


def test_a_good_model_meets_every_bar_and_ref_vs_ref_values_are_given():
    bars = quality_bars(report())
    assert met(bars) == [True] * 9
    assert [bar["ref_vs_ref"] for bar in bars] == pytest.approx([1.0, 0.53, 1.0, 1.0, 1.0, 0.98, 0.5, 0.15, 0.0])
    assert bars[1]["target"] == "≤ 0.560" and bars[6]["target"] == "≤ 1.000" and bars[7]["target"] == "≤ 0.300"


@pytest.mark.parametrize("overall, classes, failing", [
    ({"accuracy": 0.979}, {}, 0),
    ({"nna": 0.561}, {}, 1),
    ({"connected": 0.975}, {}, 2),
    ({}, {"b": {"connected": 0.94}}, 3),
    ({}, {"a": {"occupied_ratio": 0.94}}, 4),
    ({}, {"b": {"occupied_ratio": 1.051}}, 4),
    ({"flatness": 0.89}, {}, 5),
    ({"hue_tv": 1.01}, {}, 6),
    ({"object_hue_tv_all": 0.31}, {}, 7),
    ({"value_diff": 0.031, "value": 0.811}, {}, 8),
    ({"value_diff": -0.031, "value": 0.749}, {}, 8),
])
def test_each_bar_fails_just_past_its_limit(overall, classes, failing):
    bars = quality_bars(report(overall, classes))
    assert met(bars) == [i != failing for i in range(9)]


def test_limits_themselves_meet_the_bars_and_the_worst_class_is_named():
    at_limits = {"accuracy": 0.98, "nna": 0.56, "connected": 0.98, "flatness": 0.9, "hue_tv": 1.0,
                 "value_diff": 0.03}
    bars = quality_bars(report(at_limits, {"a": {"connected": 0.95, "occupied_ratio": 1.05},
                                           "b": {"occupied_ratio": 0.97}}))
    assert met(bars) == [True] * 9
    assert (bars[3]["model"], bars[3]["detail"]) == (0.95, "worst: a")
    assert (bars[4]["model"], bars[4]["detail"]) == (1.05, "worst: a")
    assert bars[5]["model"] == pytest.approx(0.9) and bars[5]["detail"] == "0.900 / 1.000"


def test_the_size_bar_says_which_misses_the_samples_spread_cannot_explain():
    bars = quality_bars(report({}, {"a": {"occupied_ratio": 1.2, "occupied_ratio_se": 0.02},  # 0.15 out, 2 s.e. 0.04
                                    "b": {"occupied_ratio": 0.93, "occupied_ratio_se": 0.02}}))  # 0.02 out: chance?
    assert (bars[4]["model"], bars[4]["met"]) == (1.2, False)
    assert bars[4]["detail"] == "worst: a ±0.040; 1 of 2 classes out by more than 2 s.e."


def test_mask_only_models_have_no_colour_bars():
    colourless = {key: None for key in ("flatness", "value", "value_diff", "hue_tv", "object_hue_tv_all")}
    r = report(colourless)
    for scores in (r["model"], r["reference_baseline"]):
        scores["overall"] = {**scores["overall"], **colourless}
    r["reference_colour"] = {"flatness": None, "value": None}
    bars = quality_bars(copy.deepcopy(r))
    assert met(bars) == [True] * 5 + [None] * 4
