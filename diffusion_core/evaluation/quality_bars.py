"""The project's quality bars for an evaluation report (evaluate.py), each checked against its target.

    report["bars"] = quality_bars(report)  # [{"bar", "target", "model", "detail", "ref_vs_ref", "met"}, ...]

"The data" is the held-out reference set; every bar is also computed for the ref-vs-ref baseline, to show
what a perfect model would reach with the same number of samples.
"""
from __future__ import annotations

from typing import Any, Callable

from .colour_metrics import OBJECT_HUE_BINS

Scores = dict[str, Any]
Quantity = Callable[[Scores], tuple["float | None", str]]

BAR_ACCURACY = 0.98
"""Classifier accuracy over all samples at least this."""
BAR_NNA_ABOVE_BASELINE = 0.03
"""1-NNA at most this far above the ref-vs-ref 1-NNA."""
BAR_CONNECTED, BAR_CONNECTED_PER_CLASS = 0.98, 0.95
"""One 6-connected component for at least this fraction of all samples / of every class's samples."""
BAR_OCCUPIED_TOLERANCE = 0.05
"""Every class's mean occupied voxels per object within this fraction of the data's (evaluate: of many shapes)."""
BAR_FLATNESS_RATIO = 0.9
"""Colour flatness (mean over classes) at least this fraction of the reference's."""
BAR_HUE_TV_FACTOR = 2.0
"""Hue-histogram distances at most this many times the ref-vs-ref distance."""
BAR_VALUE_TOLERANCE = 0.03
"""Mean HSV value (mean over classes) within this of the reference's."""


def quality_bars(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The quality bars of an evaluate() report, each {"bar", "target", "model", "detail", "ref_vs_ref", "met"}:
    model and ref_vs_ref are the bar's quantity for the model's and the baseline's scores (None where it does
    not apply, e.g. colour for mask-only models; met is then None too), detail names the worst class of a
    per-class bar or the two numbers of a ratio or difference."""
    model, base, ref = report["model"], report["reference_baseline"], report["reference_colour"]
    bars: list[dict[str, Any]] = []

    def add(bar: str, target: str, quantity: Quantity, ok: Callable[[float], bool]) -> None:
        value, detail = quantity(model)
        bars.append({"bar": bar, "target": target, "model": value, "detail": detail,
                     "ref_vs_ref": quantity(base)[0], "met": None if value is None else bool(ok(value))})

    def overall(key: str) -> Quantity:
        return lambda scores: (scores["overall"][key], "")

    def worst_class(per_class: dict[str, Scores], key: str, badness: Callable[[float], float]) -> str | None:
        """The class whose `key` is worst; None when a class has no value."""
        if any(m[key] is None for m in per_class.values()):
            return None
        return max(per_class, key=lambda c: badness(per_class[c][key]))

    def worst(key: str, badness: Callable[[float], float]) -> Quantity:
        def pick(scores: Scores) -> tuple[float | None, str]:
            per_class = scores["per_class"]
            name = worst_class(per_class, key, badness)
            return (None, "") if name is None else (per_class[name][key], f"worst: {name}")
        return pick

    def size_worst(scores: Scores) -> tuple[float | None, str]:
        """The worst class's size ratio; the detail adds its 2-standard-error margin and how many classes lie
        outside the tolerance by more than theirs (out for certain, not by the samples' chance)."""
        per_class = scores["per_class"]
        name = worst_class(per_class, "occupied_ratio", lambda v: abs(v - 1))
        if name is None:
            return None, ""
        value, detail = per_class[name]["occupied_ratio"], f"worst: {name}"
        if any(m.get("occupied_ratio_se") is None for m in per_class.values()):
            return value, detail  # one sample per class, or a report from before the standard error
        out = sum(abs(m["occupied_ratio"] - 1) - BAR_OCCUPIED_TOLERANCE > 2 * m["occupied_ratio_se"]
                  for m in per_class.values())
        return value, (f"{detail} ±{2 * per_class[name]['occupied_ratio_se']:.3f}; {out} of {len(per_class)} "
                       f"classes out by more than 2 s.e.")

    def flatness_ratio(scores: Scores) -> tuple[float | None, str]:
        flat, data = scores["overall"]["flatness"], ref["flatness"]
        return (None, "") if flat is None or not data else (flat / data, f"{flat:.3f} / {data:.3f}")

    def value_gap(scores: Scores) -> tuple[float | None, str]:
        diff = scores["overall"]["value_diff"]
        return (None, "") if diff is None else (abs(diff), f"{scores['overall']['value']:.3f} vs {ref['value']:.3f}")

    eps = 1e-12  # a value exactly at its limit meets the bar despite rounding
    nna_limit = base["overall"]["nna"] + BAR_NNA_ABOVE_BASELINE
    add(f"classifier accuracy ≥ {BAR_ACCURACY:.0%}", f"≥ {BAR_ACCURACY:.3f}", overall("accuracy"),
        lambda v: v >= BAR_ACCURACY - eps)
    add(f"1-NNA at most {BAR_NNA_ABOVE_BASELINE * 100:g} points above ref vs ref", f"≤ {nna_limit:.3f}",
        overall("nna"), lambda v: v <= nna_limit + eps)
    add(f"one connected component ≥ {BAR_CONNECTED:.0%} overall", f"≥ {BAR_CONNECTED:.3f}", overall("connected"),
        lambda v: v >= BAR_CONNECTED - eps)
    add(f"one connected component ≥ {BAR_CONNECTED_PER_CLASS:.0%} in every class",
        f"≥ {BAR_CONNECTED_PER_CLASS:.3f}", worst("connected", lambda v: -v),
        lambda v: v >= BAR_CONNECTED_PER_CLASS - eps)
    add(f"mean occupied voxels within {BAR_OCCUPIED_TOLERANCE:.0%} of the data in every class (ratio)",
        f"{1 - BAR_OCCUPIED_TOLERANCE:.3f}–{1 + BAR_OCCUPIED_TOLERANCE:.3f}",
        size_worst, lambda v: abs(v - 1) <= BAR_OCCUPIED_TOLERANCE + eps)
    add(f"colour flatness ≥ {BAR_FLATNESS_RATIO:.0%} of the data's (ratio)", f"≥ {BAR_FLATNESS_RATIO:.3f}",
        flatness_ratio, lambda v: v >= BAR_FLATNESS_RATIO - eps)
    for key, label in (("hue_tv", "voxel hues per class"),
                       ("object_hue_tv_all", f"per-object mean hue, {OBJECT_HUE_BINS} bins, all classes")):
        baseline = base["overall"][key]
        limit = None if baseline is None else BAR_HUE_TV_FACTOR * baseline
        add(f"hue-histogram TV distance ({label}) at most {BAR_HUE_TV_FACTOR:g}× ref vs ref",
            "n/a" if limit is None else f"≤ {limit:.3f}", overall(key),
            lambda v, limit=limit: limit is not None and v <= limit + eps)
    add(f"mean value within {BAR_VALUE_TOLERANCE:g} of the data's (absolute difference)",
        f"≤ {BAR_VALUE_TOLERANCE:.3f}", value_gap, lambda v: v <= BAR_VALUE_TOLERANCE + eps)
    return bars
