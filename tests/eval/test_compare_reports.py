"""scripts/compare_reports.py on hand-built reports: bars side by side, marks, worst classes, seed warnings."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from diffusion_core.evaluation.quality_bars import quality_bars
from tests.eval.test_quality_bars import report

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_reports.py"
_spec = importlib.util.spec_from_file_location("compare_reports", SCRIPT)
compare_reports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_reports)


def scored(seed: int, **model_classes: dict) -> dict:
    """A hand-built report with its bars, sample seeds from `seed`, 32 per class."""
    r = report(model_classes=model_classes)
    r["bars"] = quality_bars(r)
    r.update(sample_seeds={"a": [seed], "b": [seed + 1]}, reference_seeds=[2, 3], settings={"n_per_class": 32})
    return r


def test_each_report_gets_a_column_with_its_value_mark_and_worst_class(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(scored(0, b={"connected": 0.9})))
    reports = {"good": scored(0), "broken": compare_reports.load_report(tmp_path)}
    lines = compare_reports.bars_table(reports)
    assert lines[0] == "| bar | target | good | broken |"
    every_class = next(line for line in lines if "in every class" in line and "component" in line)
    assert every_class.endswith("| 0.990 ✔ (worst: a) | 0.900 ✘ (worst: b) |")
    assert compare_reports.per_class_table(reports, "connected")[2:] == ["| a | 0.990 | 0.990 |",
                                                                         "| b | 0.990 | 0.900 |"]
    assert compare_reports.mismatches(reports) == []


def test_a_bar_that_does_not_apply_reads_n_a_and_other_seeds_are_warned_of() -> None:
    mask = scored(100)
    mask["bars"][0] = {**mask["bars"][0], "model": None, "met": None}
    lines = compare_reports.bars_table({"rgba": scored(0), "mask": mask})
    assert lines[2].endswith("| n/a |")
    assert compare_reports.mismatches({"rgba": scored(0), "mask": mask}) == ["warning: mask's sample_seeds differ "
                                                                              "from rgba's"]
