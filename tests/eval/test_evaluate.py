"""evaluate() and sweep() end to end on a tiny untrained checkpoint; the eval CLI."""
from __future__ import annotations

import json

import pytest

from blender_addon.shared.settings import JOIN_ALPHA_FLOOR
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.evaluate import EvalSettings, SweepSettings, evaluate, sweep
from diffusion_core.cli import main as cli_main

from .conftest import CLASSES

SETTINGS = EvalSettings(n_per_class=2, steps=2, guidance=2.0, seed=10, batch_size=4, size_shapes=48)


@pytest.fixture(scope="module")
def evaluated(tiny_checkpoint, tiny_classifier, tmp_path_factory):
    """(report, out_dir) of one evaluate() run, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("evaluated")
    return evaluate(tiny_checkpoint, tiny_classifier, out, SETTINGS, progress=False), out


def test_evaluate_writes_report_json_markdown_and_gallery(evaluated):
    report, tmp_path = evaluated
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["sample_seeds"] == {"cube": [10, 11], "table": [12, 13], "tree": [14, 15]}
    assert report["reference_seeds"] == [1, 2]  # training data seed 0 + 1, + 2
    for scores in (report["model"], report["reference_baseline"]):
        assert list(scores["per_class"]) == CLASSES
        for metrics in [scores["overall"], *scores["per_class"].values()]:
            assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["nna"] <= 1.0
            assert 0.0 <= metrics["mmd"] <= 1.0 and 0.0 < metrics["cov"] <= 1.0
    # synthetic shapes are one 6-connected piece each, so the reference baseline is perfect there
    assert report["reference_baseline"]["overall"]["connected"] == 1.0
    markdown = (tmp_path / "report.md").read_text()
    assert "| 1-NNA (→ 0.5) |" in markdown and all(f"| {name} |" in markdown for name in CLASSES)


def test_evaluate_reports_colour_fidelity_with_baseline_and_bars(evaluated):
    report, tmp_path = evaluated
    data = report["reference_colour"]
    assert list(data["per_class"]) == CLASSES and len(data["object_hue_histogram"]) == 12
    assert all(len(data["hue_histograms"][name]) == 24 for name in CLASSES)
    # the data is flat-coloured parts: almost every neighbour pair the same colour, a few regions per object
    assert data["flatness"] > 0.9 and all(1.0 <= v["regions"] <= 6.0 for v in data["per_class"].values())
    for scores in (report["model"], report["reference_baseline"]):
        overall = scores["overall"]
        assert 0.0 <= overall["object_hue_tv_all"] <= 1.0 and len(scores["object_hue_histogram"]) == 12
        for name, metrics in scores["per_class"].items():
            ref = data["per_class"][name]
            assert metrics["occupied_ratio"] == pytest.approx(metrics["occupied"] / ref["occupied"])
            assert metrics["flatness_ratio"] == pytest.approx(metrics["flatness"] / ref["flatness"])
            assert metrics["value_diff"] == pytest.approx(metrics["value"] - ref["value"])
            assert 0.0 <= metrics["flatness"] <= 1.0 and metrics["regions"] <= metrics["regions_all"]
            assert 0.0 <= metrics["hue_tv"] <= 1.0 and 0.0 <= metrics["object_hue_tv"] <= 1.0
    base = report["reference_baseline"]["overall"]
    assert base["flatness"] > 0.9 and abs(base["value_diff"]) < 0.2  # the baseline is data scored against data
    assert report["model"]["overall"]["flatness"] < 0.5  # an untrained model's colours are speckle
    bars = report["bars"]
    assert len(bars) == 9 and all(isinstance(bar["met"], bool) for bar in bars)
    assert [bar["met"] for bar in bars[:4]] == [False, False, False, False]  # an untrained model fails them
    markdown = (tmp_path / "report.md").read_text()
    assert "## Quality bars" in markdown and markdown.count("**not met**") == sum(not b["met"] for b in bars)
    assert "| colour flatness (same-colour neighbour pairs) ↑ |" in markdown
    assert "## Per class, colour" in markdown and "flatness (data)" in markdown


def test_evaluate_takes_sizes_against_the_mean_of_many_data_shapes(evaluated):
    report, tmp_path = evaluated
    data, base = report["reference_colour"]["per_class"], report["reference_baseline"]["per_class"]
    for name in CLASSES:  # 48 held-out shapes of the class (reference seed 1), not the reference set's 2
        shapes = make_synthetic_dataset(48, resolution=8, seed=1, only_mask=True, classes=[name]).voxels
        assert data[name]["occupied"] == pytest.approx((shapes >= SETTINGS.alpha_threshold).sum((1, 2, 3, 4)).mean())
        assert base[name]["occupied_ratio"] == pytest.approx(base[name]["occupied"] / data[name]["occupied"])
    assert any(base[name]["occupied_ratio"] != 1.0 for name in CLASSES)  # 2 shapes' mean is not the data's
    assert all(base[name]["occupied_ratio_se"] >= 0.0 for name in CLASSES)
    assert "of 3 classes out by more than 2 s.e." in report["bars"][4]["detail"]
    assert "sizes against the mean of 48 data shapes per class (seed 1)" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="size_shapes must be >= 1, got 0"):
        EvalSettings(size_shapes=0)


def test_sweep_scores_each_point_once_and_plots(tiny_checkpoint, tiny_classifier, tmp_path):
    settings = EvalSettings(n_per_class=1, steps=2, sampler="ddim", guidance=1.0, batch_size=4)
    result = sweep(tiny_checkpoint, tiny_classifier, tmp_path,
                   settings, SweepSettings(samplers_steps=(("ddim", 2), ("ddpm", 3)), guidances=(1.0, 2.0)),
                   progress=False)
    keys = [(p["sampler"], p["steps"], p["guidance"]) for p in result["points"]]
    assert keys == [("ddim", 2, 1.0), ("ddpm", 3, 1.0), ("ddim", 2, 2.0)]
    assert all(set(p["overall"]) >= {"accuracy", "nna", "connected"} and list(p["per_class"]) == CLASSES
               for p in result["points"])
    assert json.loads((tmp_path / "sweep.json").read_text())["points"] == result["points"]
    assert (tmp_path / "sweep.png").stat().st_size > 1000


def test_cli_errors_clearly_on_a_missing_checkpoint(tiny_classifier, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["eval", "--checkpoint", str(tmp_path / "nope.safetensors"), "--classifier", str(tiny_classifier)])
    assert exit_info.value.code == 2
    assert "nope.safetensors does not exist" in capsys.readouterr().err


def test_cli_runs_and_reports_bad_settings_in_one_line(tiny_checkpoint, tiny_classifier, tmp_path, capsys):
    common = ["eval", "--checkpoint", str(tiny_checkpoint), "--classifier", str(tiny_classifier),
              "--n-per-class", "1", "--out", str(tmp_path)]
    assert cli_main(common + ["--steps", "2"]) == 0
    assert (tmp_path / "report.md").is_file() and "# Evaluation of `tiny`" in capsys.readouterr().out
    assert cli_main(common + ["--steps", "500"]) == 1  # the tiny diffusion has 40 timesteps
    assert capsys.readouterr().err == "error: steps must be in 1..40 for this model, got [500]\n"
    assert json.loads((tmp_path / "report.json").read_text())["clip_x0"] == 1.0  # a voxel-space model's default
    assert cli_main(common + ["--steps", "2", "--clip-x0", "0.5"]) == 0
    assert json.loads((tmp_path / "report.json").read_text())["clip_x0"] == 0.5
    assert "x₀ clipped at ±0.5" in (tmp_path / "report.md").read_text()
    assert f"pieces joined (path floor {JOIN_ALPHA_FLOOR:g})" in (tmp_path / "report.md").read_text()
    first = json.loads((tmp_path / "report.json").read_text())["first_timestep"]
    assert 0 < first < 39 and f"from t = {first} (trailing spacing)," in (tmp_path / "report.md").read_text()  # not 39
    walked = {}  # every step is guided, so guided_timesteps are the steps the sampler took
    for spacing in ("trailing", "logsnr"):
        assert cli_main(common + ["--steps", "4", "--spacing", spacing]) == 0
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["settings"]["spacing"] == spacing and f"({spacing} spacing)" in (tmp_path / "report.md").read_text()
        walked[spacing] = report["guided_timesteps"]
    assert walked["trailing"][0] == walked["logsnr"][0] == first and walked["trailing"] != walked["logsnr"]
    capsys.readouterr()
    assert cli_main(common + ["--clip-x0", "0"]) == 1
    assert capsys.readouterr().err == "error: clip_x0 must be positive, got 0.0\n"
    assert json.loads((tmp_path / "report.json").read_text())["reencode"] == 0 and "re-encoded" not in \
        (tmp_path / "report.md").read_text()
    assert cli_main(common + ["--reencode", "1"]) == 1  # a voxel-space model has no VAE to re-encode through
    assert capsys.readouterr().err == ("error: reencode 1 needs a latent model; this one has no VAE to re-encode "
                                       "through (reencode must be 0)\n")


def test_cli_guides_only_the_steps_in_the_guidance_interval(tiny_checkpoint, tiny_classifier, tmp_path, capsys):
    common = ["eval", "--checkpoint", str(tiny_checkpoint), "--classifier", str(tiny_classifier), "--n-per-class",
              "1", "--steps", "6", "--guidance", "2", "--gallery-columns", "0", "--out", str(tmp_path)]
    report = lambda: json.loads((tmp_path / "report.json").read_text())  # noqa: E731
    assert cli_main(common) == 0
    everywhere = report()["guided_timesteps"]
    assert report()["settings"]["guidance_interval"] is None
    assert len(everywhere) == 6 and everywhere[0] == report()["first_timestep"]
    assert "guided at every step" in (tmp_path / "report.md").read_text()
    assert cli_main(common + ["--guidance-interval", "0.5", "3"]) == 0
    some = report()["guided_timesteps"]
    assert 0 < len(some) < 6 and set(some) < set(everywhere) and report()["settings"]["guidance_interval"] == [0.5, 3]
    assert f"guided at t = {some[0]}–{some[-1]}, {len(some)} of 6 steps (σ in (0.5, 3])" in (tmp_path / "report.md").read_text()
    capsys.readouterr()
    assert cli_main(common + ["--guidance-interval", "3", "1"]) == 1
    assert capsys.readouterr().err == "error: the guidance interval must have 0 <= low < high, got (3.0, 1.0]\n"


def test_cli_rejects_a_malformed_sweep_list(tiny_checkpoint, tiny_classifier, capsys):
    with pytest.raises(SystemExit):
        cli_main(["eval", "--checkpoint", str(tiny_checkpoint), "--classifier", str(tiny_classifier), "--sweep",
                  "--sweep-steps", "ddim:10,euler:5"])
    assert "SAMPLER:STEPS" in capsys.readouterr().err


def test_cli_writes_no_gallery_at_zero_columns_and_refuses_negative(tiny_checkpoint, tiny_classifier, tmp_path,
                                                                   capsys):
    common = ["eval", "--checkpoint", str(tiny_checkpoint), "--classifier", str(tiny_classifier),
              "--n-per-class", "1", "--steps", "2", "--out", str(tmp_path)]
    assert cli_main(common + ["--gallery-columns", "0"]) == 0
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "gallery.png").exists()
    assert "gallery.png" not in capsys.readouterr().out
    assert cli_main(common + ["--gallery-columns", "-1"]) == 1
    assert capsys.readouterr().err == "error: gallery_columns must be >= 0 (0: no gallery), got -1\n"
    assert cli_main(common + ["--size-shapes", "0"]) == 1
    assert capsys.readouterr().err == "error: size_shapes must be >= 1, got 0\n"
