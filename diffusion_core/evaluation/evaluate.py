"""Evaluate a checkpoint's samples against held-out synthetic references (metric definitions: metrics.py).

For every class, N samples with fixed recorded seeds are compared with N held-out synthetic shapes of that
class (make_synthetic_dataset with a seed other than training's). Beside every number of the model stands
the same number for a second, independent reference set scored against the first: the level a perfect
model would reach with N samples. Per-class numbers are averaged over classes for the overall row.

    report = evaluate("ckpt.safetensors", "models/classifier_16.safetensors", "eval_out", EvalSettings())
    points = sweep("ckpt.safetensors", "models/classifier_16.safetensors", "eval_out", EvalSettings(), SweepSettings())
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from blender_addon.shared.settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_ETA, DEFAULT_GUIDANCE, DEFAULT_JOIN_PARTS,
                                           DEFAULT_SAMPLER, DEFAULT_STEPS, JOIN_ALPHA_FLOOR, SPACINGS, Spacing)

from ..joining import join_parts
from ..models.checkpoint import load_checkpoint
from ..models.classifier import VoxelClassifier, load_classifier
from .colour_metrics import (
    HUE_BINS, MIN_REGION_VOXELS, OBJECT_HUE_BINS, SAME_COLOUR_DELTA_E, ColourStats, colour_stats, nan_mean,
    object_hue_histogram, total_variation, voxel_hue_histogram,
)
from ..data.dataset import VoxelDataset, make_synthetic_dataset
from ..diffusion import samplers
from .metrics import UNDECIDED_FLOOR, set_metrics
from ..pipeline import VoxelGenerator
from .quality_bars import quality_bars
from .render import render_voxel_grid_png

Metrics = dict[str, float | None]


@dataclass(frozen=True)
class EvalSettings:
    """Defaults: the panel's sampling defaults (blender_addon.shared.settings)."""

    n_per_class: int = 16
    steps: int = DEFAULT_STEPS
    sampler: str = DEFAULT_SAMPLER
    eta: float = DEFAULT_ETA
    guidance: float = DEFAULT_GUIDANCE
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD
    join_parts: bool = DEFAULT_JOIN_PARTS  # as the server: pieces joined along confident voxels
    clip_x0: float | None = None  # the samplers' x0 clip; None: the checkpoint's (DiffusionConfig.x0_clip)
    reencode: int | None = None  # a latent model's round trips before the last decode; None: the checkpoint's
    spacing: Spacing = "trailing"  # how the steps spread over the timeline (samplers.sampling_timesteps)
    guidance_interval: tuple[float, float] | None = None  # guide where sigma in (low, high]; None: every step
    seed: int = 0  # sample j of class k gets seed + k * n_per_class + j
    reference_seed: int | None = None  # None: training data seed + 1 (the baseline's second set: + 2)
    batch_size: int = 64
    gallery_columns: int = 6  # 0: no gallery.png (rendering 32^3 samples takes minutes)
    size_shapes: int = 1024  # data shapes per class whose mean occupied voxels the size ratios divide by

    def __post_init__(self) -> None:
        if self.gallery_columns < 0:
            raise ValueError(f"gallery_columns must be >= 0 (0: no gallery), got {self.gallery_columns}")
        if self.size_shapes < 1:
            raise ValueError(f"size_shapes must be >= 1, got {self.size_shapes}")


@dataclass(frozen=True)
class SweepSettings:
    """Accuracy and 1-NNA versus (sampler, steps) at the eval guidance, and versus guidance at its steps."""

    samplers_steps: tuple[tuple[str, int], ...] = (("ddim", 10), ("ddim", 25), ("ddim", 50), ("ddim", 100),
                                                   ("ddpm", 1000))
    guidances: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)


@dataclass
class _Context:
    """What every evaluation of one checkpoint shares: the model, classifier and the two reference sets."""

    generator: VoxelGenerator
    classifier: VoxelClassifier
    classifier_classes: list[str]
    classifier_meta: dict[str, Any]
    reference: VoxelDataset
    reference_seeds: tuple[int, int]
    reference_stats: list[ColourStats]  # colour_stats of the reference's objects of class k, at index k
    data_occupied: list[float]  # mean occupied voxels of settings.size_shapes data shapes of class k, at index k
    baseline: dict[str, Any]


def evaluate(checkpoint: str | os.PathLike, classifier: str | os.PathLike, out_dir: str | os.PathLike,
             settings: EvalSettings = EvalSettings(), progress: bool = True) -> dict[str, Any]:
    """Sample, score, and write report.json, report.md and gallery.png (a row per class) into out_dir."""
    ctx = _context(checkpoint, classifier, settings, [settings.steps])
    voxels, labels, seeds, seconds = _sample(ctx.generator, settings, progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = ctx.generator.class_names
    report = {
        "checkpoint": str(checkpoint),
        "model_name": ctx.generator.model_name,
        "classifier": str(classifier),
        "classifier_heldout_accuracy": ctx.classifier_meta.get("heldout_accuracy"),
        "settings": _as_json(settings),
        "reference_seeds": list(ctx.reference_seeds),
        "sample_seeds": {name: seeds[labels == k].tolist() for k, name in enumerate(names)},
        "sampling_seconds": round(seconds, 2),
        "clip_x0": ctx.generator.clip_x0,
        "reencode": ctx.generator.reencode,
        "join_floor": JOIN_ALPHA_FLOOR if settings.join_parts else None,
        **_timeline(ctx.generator, settings),
        "model": _score(ctx, voxels, labels, settings.alpha_threshold),
        "reference_baseline": ctx.baseline,
        "reference_colour": _reference_colour(ctx),
    }
    report["bars"] = quality_bars(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown_report(report))
    if settings.gallery_columns:
        _gallery(voxels, labels, seeds, names, settings, out / "gallery.png")
    return report


def sweep(checkpoint: str | os.PathLike, classifier: str | os.PathLike, out_dir: str | os.PathLike,
          settings: EvalSettings = EvalSettings(), sweep_settings: SweepSettings = SweepSettings(),
          progress: bool = True) -> dict[str, Any]:
    """Score every sweep point; write sweep.json and sweep.png (accuracy, 1-NNA, connectivity) into out_dir."""
    grid = [(sampler, steps, settings.guidance) for sampler, steps in sweep_settings.samplers_steps]
    grid += [(settings.sampler, settings.steps, g) for g in sweep_settings.guidances]
    ctx = _context(checkpoint, classifier, settings, [steps for _, steps, _ in grid])
    points: dict[tuple[str, int, float], dict[str, Any]] = {}
    for sampler, steps, guidance in tqdm(grid, desc="sweep", disable=not progress, dynamic_ncols=True):
        if (sampler, steps, guidance) in points:
            continue
        point = replace(settings, sampler=sampler, steps=steps, guidance=guidance)
        voxels, labels, _, seconds = _sample(ctx.generator, point, progress)
        points[(sampler, steps, guidance)] = {"sampler": sampler, "steps": steps, "guidance": guidance,
                                              "sampling_seconds": round(seconds, 2),
                                              **_score(ctx, voxels, labels, settings.alpha_threshold)}
    result = {"checkpoint": str(checkpoint), "settings": _as_json(settings), "sweep": asdict(sweep_settings),
              "reference_seeds": list(ctx.reference_seeds), "reference_baseline": ctx.baseline,
              "points": list(points.values())}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result, indent=2))
    _plot_sweep(result, sweep_settings, out / "sweep.png")
    return result


def _context(checkpoint: str | os.PathLike, classifier: str | os.PathLike, settings: EvalSettings,
             steps: Sequence[int]) -> _Context:
    """Load and check everything before any sampling, so bad settings fail at once."""
    generator = VoxelGenerator.from_checkpoint(checkpoint)
    if settings.clip_x0 is not None:
        if not settings.clip_x0 > 0:
            raise ValueError(f"clip_x0 must be positive, got {settings.clip_x0}")
        generator.clip_x0 = float(settings.clip_x0)
    if settings.reencode is not None:
        generator.set_reencode(settings.reencode)
    if settings.spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {settings.spacing!r}")
    generator.spacing = settings.spacing
    if settings.guidance_interval is not None:
        low, high = settings.guidance_interval
        if not 0 <= low < high:
            raise ValueError(f"the guidance interval must have 0 <= low < high, got ({low}, {high}]")
        generator.guidance_interval = (float(low), float(high))
    max_steps = generator.max_steps
    bad_steps = sorted({s for s in steps if not 1 <= s <= max_steps})
    if bad_steps:
        raise ValueError(f"steps must be in 1..{max_steps} for this model, got {bad_steps}")
    model, classifier_classes, meta = load_classifier(classifier)
    if model.cfg.resolution != generator.resolution:
        raise ValueError(f"classifier is for {model.cfg.resolution}^3 grids, the model makes {generator.resolution}^3")
    unknown = sorted(set(generator.class_names) - set(classifier_classes))
    if unknown:
        raise ValueError(f"the classifier does not know the model's classes {unknown}")
    train_seed = int(load_checkpoint(checkpoint).config.get("data", {}).get("seed", 0))
    first = train_seed + 1 if settings.reference_seed is None else settings.reference_seed
    seeds = (first, first + 1)
    if train_seed in seeds:
        raise ValueError(f"reference seeds {seeds} must differ from the training data seed {train_seed}")
    reference, second = (make_synthetic_dataset(settings.n_per_class * len(generator.class_names),
                                                 resolution=generator.resolution, seed=s,
                                                 only_mask=generator.channels == 1, classes=generator.class_names)
                         for s in seeds)
    reference_stats = [colour_stats(reference.voxels[reference.labels == k], settings.alpha_threshold)
                       for k in range(len(generator.class_names))]
    data_occupied = [data_mean_occupied(name, generator.resolution, settings.size_shapes, first,
                                        settings.alpha_threshold) for name in generator.class_names]
    ctx = _Context(generator, model, classifier_classes, meta, reference, seeds, reference_stats, data_occupied,
                   baseline={})
    ctx.baseline = _score(ctx, second.voxels, second.labels, settings.alpha_threshold)
    return ctx


def data_mean_occupied(name: str, resolution: int, shapes: int, seed: int, threshold: float) -> float:
    """Mean occupied voxels per object of ``shapes`` synthetic shapes of class ``name`` (data seed ``seed``): the
    data's size, precise where the reference set's mean of n_per_class shapes is 5-10% off for classes of wide
    size spread (README "Which classes are the wrong size"). One class at a time, alpha only, to bound memory."""
    data = make_synthetic_dataset(shapes, resolution=resolution, seed=seed, only_mask=True, classes=[name])
    return float((data.voxels[:, -1] >= threshold).sum(axis=(1, 2, 3)).mean())


def _as_json(settings: EvalSettings) -> dict[str, Any]:
    """The settings as report.json holds them (the guidance interval as a list or null)."""
    interval = settings.guidance_interval
    return {**asdict(settings), "guidance_interval": None if interval is None else list(interval)}


def _timeline(generator: VoxelGenerator, settings: EvalSettings) -> dict[str, Any]:
    """The report's first_timestep (where sampling starts) and guided_timesteps (those run at the full guidance
    scale, samplers.step_guidance), noisiest first, of the samplers' own timesteps for these settings."""
    diffusion = generator.diffusion
    first = samplers.sampling_start(diffusion, settings.steps)
    timesteps = samplers.sampling_timesteps(diffusion, settings.steps, first, generator.spacing)[::-1]
    guided = [t for t in timesteps if samplers.step_guidance(float(diffusion.alphas_cumprod[t]), settings.guidance,
                                                             generator.guidance_interval) == settings.guidance]
    return {"first_timestep": first, "guided_timesteps": guided}


def _reencode_text(report: dict[str, Any]) -> str:
    """"latents re-encoded 1× before decoding, " (empty for none, and for reports from before the field)."""
    rounds = report.get("reencode", 0)
    return f"latents re-encoded {rounds}× before decoding, " if rounds else ""


def _guided_text(report: dict[str, Any]) -> str:
    """"guided at t = 858–197, 11 of 15 steps (σ in (0.28, 5.42])" for the report's sampling line."""
    guided, steps = report["guided_timesteps"], report["settings"]["steps"]
    if len(guided) == steps:
        return "guided at every step"
    low, high = report["settings"]["guidance_interval"]
    where = f"t = {guided[0]}–{guided[-1]}" if guided else "no step"
    return f"guided at {where}, {len(guided)} of {steps} steps (σ in ({low:g}, {high:g}])"


def _sample(generator: VoxelGenerator, settings: EvalSettings,
            progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """-> voxels [K*N, C, R, R, R] class-major, labels int64 [K*N], seeds int64 [K*N], seconds."""
    n, k = settings.n_per_class, len(generator.class_names)
    labels = np.repeat(np.arange(k), n)
    seeds = settings.seed + np.arange(k * n)
    batches = []
    start = time.perf_counter()
    desc = f"{settings.sampler} {settings.steps} steps, guidance {settings.guidance:g}"
    for i in tqdm(range(0, k * n, settings.batch_size), desc=desc, disable=not progress, dynamic_ncols=True):
        sl = slice(i, i + settings.batch_size)
        batches.append(generator.generate(labels[sl].tolist(), seeds[sl].tolist(), steps=settings.steps,
                                          sampler=settings.sampler, eta=settings.eta,
                                          guidance=settings.guidance))
        if settings.join_parts:
            batches[-1] = join_parts(batches[-1], settings.alpha_threshold)
    return np.concatenate(batches), labels, seeds, time.perf_counter() - start


def _score(ctx: _Context, voxels: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """Per-class metrics (plus classifier accuracy) against the reference, their mean over classes (plus
    object_hue_tv_all: the per-object mean-hue histograms of all classes pooled), and for RGBA sets the
    per-class voxel hue histograms [HUE_BINS] and the pooled per-object mean-hue histogram [OBJECT_HUE_BINS]."""
    names = ctx.generator.class_names
    predicted = np.array(ctx.classifier_classes)[ctx.classifier.predict(voxels, threshold)]
    per_class: dict[str, Metrics] = {}
    stats = [colour_stats(voxels[labels == k], threshold) for k in range(len(names))]
    for k, name in enumerate(names):
        metrics = set_metrics(voxels[labels == k], ctx.reference.voxels[ctx.reference.labels == k], threshold,
                              sample_stats=stats[k], reference_stats=ctx.reference_stats[k],
                              data_occupied=ctx.data_occupied[k])
        metrics["accuracy"] = float((predicted[labels == k] == name).mean())
        per_class[name] = metrics
    overall: Metrics = {key: _class_mean([m[key] for m in per_class.values()]) for key in per_class[names[0]]}
    out: dict[str, Any] = {"overall": overall, "per_class": per_class}
    overall["object_hue_tv_all"] = None
    if stats[0].hsv is not None:
        pooled = _pooled_object_hue_histogram(stats)
        overall["object_hue_tv_all"] = total_variation(pooled, _pooled_object_hue_histogram(ctx.reference_stats))
        out["hue_histograms"] = {name: voxel_hue_histogram(s.hsv).round(5).tolist() for name, s in zip(names, stats)}
        out["object_hue_histogram"] = pooled.round(5).tolist()
    return out


def _class_mean(values: list[float | None]) -> float | None:
    """Mean over classes; None when any class has None (mask-only colour entries, a ratio to zero)."""
    return None if any(v is None for v in values) else float(np.mean(values))


def _pooled_object_hue_histogram(stats: Sequence[ColourStats]) -> np.ndarray:
    """Per-object mean-hue histogram [OBJECT_HUE_BINS] of the objects of all classes together."""
    return object_hue_histogram(np.concatenate([s.mean_hue for s in stats]))


def _reference_colour(ctx: _Context) -> dict[str, Any]:
    """The data's values that ratios and differences are taken against: per class and their mean over classes (as
    for samples) of occupied voxels per object (of settings.size_shapes data shapes), and for RGBA (the reference
    set's) mean saturation and value,
    flatness, and colour regions per object; plus its per-class voxel hue histograms and pooled per-object
    mean-hue histogram."""
    names = ctx.generator.class_names
    per_class = {}
    for name, s, occupied in zip(names, ctx.reference_stats, ctx.data_occupied):
        values: dict[str, float | None] = {"occupied": occupied,
                                           **dict.fromkeys(("saturation", "value", "flatness", "regions",
                                                            "regions_all"))}
        if s.hsv is not None:
            values.update(saturation=float(s.hsv[:, 1].mean()), value=float(s.hsv[:, 2].mean()),
                          flatness=nan_mean(s.flatness), regions=float(s.regions.mean()),
                          regions_all=float(s.regions_all.mean()))
        per_class[name] = values
    out: dict[str, Any] = {key: _class_mean([v[key] for v in per_class.values()]) for key in per_class[names[0]]}
    out["per_class"] = per_class
    out["hue_bins"], out["object_hue_bins"] = HUE_BINS, OBJECT_HUE_BINS
    if ctx.reference_stats[0].hsv is not None:
        out["hue_histograms"] = {name: voxel_hue_histogram(s.hsv).round(5).tolist()
                                 for name, s in zip(names, ctx.reference_stats)}
        out["object_hue_histogram"] = _pooled_object_hue_histogram(ctx.reference_stats).round(5).tolist()
    return out


# (key, label, ideal) rows of the summary table; an ideal of None means "the data's (reference's) value".
TABLE_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("accuracy", "classifier accuracy ↑", "1"),
    ("cov", "COV (coverage) ↑", "1"),
    ("mmd", "MMD (1 - IoU) ↓", "0"),
    ("nna", "1-NNA (→ 0.5)", "0.5"),
    ("connected", "single 6-connected component ↑", "1"),
    ("occupied", "occupied voxels per object", None),
    ("occupied_ratio", "occupied voxels / data's (mean of classes)", "1"),
    ("undecided", f"undecided: voxels of alpha in [{UNDECIDED_FLOOR:g}, threshold) / alpha ≥ {UNDECIDED_FLOOR:g} ↓",
     "0"),
    ("saturation", "mean saturation", None),
    ("value", "mean value", None),
    ("value_diff", "mean value − data's", "0"),
    ("hue_tv", "hue histogram TV distance (per class) ↓", "0"),
    ("object_hue_tv", "object mean-hue histogram TV distance (per class) ↓", "0"),
    ("object_hue_tv_all", "object mean-hue histogram TV distance (all classes) ↓", "0"),
    ("flatness", "colour flatness (same-colour neighbour pairs) ↑", None),
    ("flatness_ratio", "colour flatness / data's (mean of classes)", "1"),
    ("regions", f"colour regions per object (≥ {MIN_REGION_VOXELS} voxels)", None),
    ("regions_all", "colour regions per object (all)", None),
)
SHAPE_COLUMNS = ("accuracy", "cov", "mmd", "nna", "connected", "occupied", "occupied_ratio", "occupied_ratio_se")
COLOUR_COLUMNS = ("flatness", "flatness_ratio", "regions", "regions_all", "saturation", "value", "value_diff",
                  "hue_tv", "object_hue_tv")
"""Columns of the two per-class tables (keys of set_metrics); the reference's own value follows those it has."""


def _joined_text(report: dict[str, Any]) -> str:
    """How the report's pieces were joined, in words (reports from before the floor was recorded omit it)."""
    if not report["settings"].get("join_parts"):
        return "pieces not joined"
    floor = report.get("join_floor")
    return "pieces joined" if floor is None else f"pieces joined (path floor {floor:g})"


def markdown_report(report: dict[str, Any]) -> str:
    """The report as Markdown: settings, the quality bars, an overall table, and per-class shape and colour
    tables ("model (ref vs ref)", and the data's own value where it has one)."""
    s = report["settings"]
    model, base, colour = report["model"], report["reference_baseline"], report["reference_colour"]
    heldout = report["classifier_heldout_accuracy"]
    lines = [
        f"# Evaluation of `{report['model_name']}`",
        "",
        f"- checkpoint: `{report['checkpoint']}`",
        f"- sampling: {s['sampler']}, {s['steps']} steps, eta {s['eta']:g}, guidance {s['guidance']:g}; "
        f"{s['n_per_class']} samples per class (seeds from {s['seed']}), alpha threshold {s['alpha_threshold']:g}, "
        f"{_joined_text(report)}, x₀ clipped at ±{report['clip_x0']:g}, {_reencode_text(report)}"
        f"from t = {report['first_timestep']} ({s['spacing']} spacing), {_guided_text(report)}; "
        f"{report['sampling_seconds']:.1f} s sampling",
        f"- reference (\"data\"): synthetic seed {report['reference_seeds'][0]}; ref-vs-ref baseline: seed "
        f"{report['reference_seeds'][1]} scored against it; sizes against the mean of {s['size_shapes']} data "
        f"shapes per class (seed {report['reference_seeds'][0]})",
        f"- classifier: `{report['classifier']}` (held-out accuracy "
        f"{'n/a' if heldout is None else f'{heldout:.3f}'})",
        f"- colour: same colour = CIE76 ΔE < {SAME_COLOUR_DELTA_E:g} between face neighbours; colour regions "
        f"of ≥ {MIN_REGION_VOXELS} voxels (definitions: `diffusion_core/colour_metrics.py`)",
        "",
        "## Quality bars",
        "",
        "| bar | target | model | ref vs ref | met |",
        "|---|---|---|---|---|",
    ]
    for bar in report.get("bars", []):
        detail = f" ({bar['detail']})" if bar["detail"] else ""
        met = "n/a" if bar["met"] is None else ("**met**" if bar["met"] else "**not met**")
        lines.append(f"| {bar['bar']} | {bar['target']} | {_fmt(bar['model'])}{detail} | {_fmt(bar['ref_vs_ref'])} "
                     f"| {met} |")
    lines += ["", "## Overall (means over classes)", "",
              "| metric | model | ref vs ref | ideal |", "|---|---|---|---|"]
    for key, label, ideal in TABLE_ROWS:
        ideal_text = ideal if ideal is not None else f"{_fmt(colour.get(key), key)} (data)"
        lines.append(f"| {label} | {_fmt(model['overall'][key], key)} | {_fmt(base['overall'][key], key)} "
                     f"| {ideal_text} |")
    data_keys = set(next(iter(colour["per_class"].values())))  # the reference's own values, per class
    for title, keys in (("Per class, shape", SHAPE_COLUMNS), ("Per class, colour", COLOUR_COLUMNS)):
        header = [h for key in keys for h in ([key, f"{key} (data)"] if key in data_keys else [key])]
        lines += ["", f"## {title}: model (ref vs ref)", "", "| class | " + " | ".join(header) + " |",
                  "|---" * (len(header) + 1) + "|"]
        for name, metrics in model["per_class"].items():
            cells = []
            for key in keys:
                cells.append(f"{_fmt(metrics[key], key)} ({_fmt(base['per_class'][name][key], key)})")
                if key in data_keys:
                    cells.append(_fmt(colour["per_class"][name][key], key))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, key: str = "") -> str:
    """3 decimals; 1 for voxel counts (key "occupied")."""
    return "n/a" if value is None else f"{value:.1f}" if key == "occupied" else f"{value:.3f}"


def _gallery(voxels: np.ndarray, labels: np.ndarray, seeds: np.ndarray, names: Sequence[str],
             settings: EvalSettings, path: Path) -> None:
    """The first gallery_columns samples of every class, a row per class."""
    cols = min(settings.gallery_columns, settings.n_per_class)
    keep = np.concatenate([np.flatnonzero(labels == k)[:cols] for k in range(len(names))])
    titles = [f"{names[labels[i]]} #{seeds[i]}" for i in keep]
    render_voxel_grid_png(voxels[keep], path, titles=titles, threshold=settings.alpha_threshold, ncols=cols)


def _plot_sweep(result: dict[str, Any], sweep_settings: SweepSettings, path: Path) -> None:
    """3 x 2 panels: accuracy, 1-NNA and single-component fraction versus steps (one line per sampler) and
    versus guidance."""
    s, points, base = result["settings"], result["points"], result["reference_baseline"]["overall"]
    fig = Figure(figsize=(10, 10), dpi=100)  # no pyplot: no global state, no backend to pick
    axes = fig.subplots(3, 2)
    rows = (("accuracy", "classifier accuracy"), ("nna", "1-NNA (0.5 ideal)"), ("connected", "one component"))
    for row, (key, label) in enumerate(rows):
        ax = axes[row, 0]
        for sampler in dict.fromkeys(sampler for sampler, _ in sweep_settings.samplers_steps):
            pts = sorted((p["steps"], p["overall"][key]) for p in points
                         if p["sampler"] == sampler and p["guidance"] == s["guidance"])
            ax.plot(*zip(*pts), "o-", label=sampler)
        ticks = sorted({steps for _, steps in sweep_settings.samplers_steps})
        ax.set(xscale="log", xticks=ticks, xticklabels=[str(v) for v in ticks], ylabel=label,
               xlabel=f"sampling steps (guidance {s['guidance']:g})")
        ax.minorticks_off()
        ax = axes[row, 1]
        pts = sorted((p["guidance"], p["overall"][key]) for p in points
                     if p["sampler"] == s["sampler"] and p["steps"] == s["steps"])
        ax.plot(*zip(*pts), "o-", color="tab:green", label=f"{s['sampler']} {s['steps']} steps")
        ax.set(xlabel="guidance scale", ylabel=label)
        for ax in axes[row]:
            ax.axhline(base[key], ls="--", color="grey", label="ref vs ref")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
