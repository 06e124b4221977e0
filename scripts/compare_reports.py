"""Print the quality bars of several `eval` reports side by side, as a markdown table.

    .venv/bin/python scripts/compare_reports.py before=docs/eval/default_16 now=runs/eval_16_refine/700000 \
        [--per-class connected --per-class occupied_ratio]

Each argument is LABEL=REPORT, REPORT being an eval `--out` folder or its report.json. A row per bar: its
target (the first report's: targets follow each report's ref-vs-ref), then each report's value (✔ met, ✘ not
met) with the worst class where the bar names one. The reports should share seeds and reference seeds; a
warning says where they do not. --per-class KEY adds a
table of that per-class metric (a key of report.json's model.per_class, e.g. connected, occupied_ratio,
object_hue_tv), one column per report.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def load_report(path: Path) -> dict[str, Any]:
    """The report.json in `path` (a folder) or at `path` (a file)."""
    file = path / "report.json" if path.is_dir() else path
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def _cell(bar: dict[str, Any] | None) -> str:
    if bar is None or bar["model"] is None:  # absent from this report, or not applicable (a mask-only model's colour)
        return "n/a"
    mark = "" if bar["met"] is None else (" ✔" if bar["met"] else " ✘")
    detail = f" ({bar['detail']})" if bar["detail"].startswith("worst") else ""
    return f"{bar['model']:.3f}{mark}{detail}"


def bars_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: a row per bar of the first report, a column per report."""
    labels = list(reports)
    by_name = {label: {b["bar"]: b for b in r["bars"]} for label, r in reports.items()}
    lines = ["| bar | target | " + " | ".join(labels) + " |", "|---" * (len(labels) + 2) + "|"]
    for bar in reports[labels[0]]["bars"]:
        cells = [_cell(by_name[label].get(bar["bar"])) for label in labels]
        lines.append(f"| {bar['bar']} | {bar['target']} | " + " | ".join(cells) + " |")
    return lines


def per_class_table(reports: dict[str, dict[str, Any]], key: str) -> list[str]:
    """Markdown lines: a row per class with the model's `key`, a column per report."""
    labels = list(reports)
    classes = list(reports[labels[0]]["model"]["per_class"])
    lines = [f"| {key} | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for name in classes:
        values = [reports[label]["model"]["per_class"].get(name, {}).get(key) for label in labels]
        lines.append(f"| {name} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in values) + " |")
    return lines


def mismatches(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings for reports that differ from the first in sample seeds, reference seeds or samples per class."""
    labels = list(reports)
    first = reports[labels[0]]
    out = []
    for label in labels[1:]:
        for key in ("sample_seeds", "reference_seeds"):
            if reports[label].get(key) != first.get(key):
                out.append(f"warning: {label}'s {key} differ from {labels[0]}'s")
        if reports[label]["settings"]["n_per_class"] != first["settings"]["n_per_class"]:
            out.append(f"warning: {label} has another n_per_class than {labels[0]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", metavar="LABEL=REPORT")
    parser.add_argument("--per-class", action="append", default=[], metavar="KEY")
    args = parser.parse_args()
    reports = {}
    for arg in args.reports:
        label, sep, path = arg.partition("=")
        if not sep or not label or not path:
            parser.error(f"{arg!r}: give LABEL=REPORT")
        reports[label] = load_report(Path(path))
    for warning in mismatches(reports):
        print(warning, file=sys.stderr)
    lines = bars_table(reports)
    for key in args.per_class:
        lines += [""] + per_class_table(reports, key)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
