"""build_addon.py: one zip per embedded Python, reproducible and valid for Blender's own validator;
builds whose Blender range includes a Python their wheels do not load on are refused."""
import dataclasses
import subprocess
import tomllib
import zipfile

import pytest

import build_addon
from tests.addon.blenders import BLENDERS

PY311, PY313 = build_addon.BUILD_TARGETS
STEMS = ["voxel_diffusion-0.1.0-blender4.2-5.0-py311", "voxel_diffusion-0.1.0-blender5.1-5.x-py313"]
PLATFORM_SUFFIXES = ["windows_x64", "windows_arm64", "macos_arm64", "macos_x64", "linux_x64"]


def test_zips_are_reproducible_and_valid_for_blender(tmp_path):
    first = build_addon.build(tmp_path / "a", split_platforms=True)
    second = build_addon.build(tmp_path / "b", split_platforms=True)
    assert [p.name for p in first] == [f"{stem}{suffix}.zip" for stem in STEMS
                                       for suffix in ["", *(f"-{p}" for p in PLATFORM_SUFFIXES)]]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    for target, path in ((PY311, first[0]), (PY313, first[6])):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            assert names == sorted(names) and "blender_manifest.toml" in names and "__init__.py" in names
            assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
            wheels = sorted(n for n in names if n.startswith("wheels/"))
            assert wheels == sorted(f"wheels/{w.filename}" for w in target.wheels)
            assert {i.date_time for i in zf.infolist()} == {build_addon.ZIP_TIMESTAMP}
            manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        bounds = (manifest["blender_version_min"], manifest["blender_version_max"])
        assert bounds == (target.blender_min, target.blender_max)
        assert sorted(manifest["platforms"]) == sorted(build_addon.PLATFORMS)
    with zipfile.ZipFile(first[-1]) as zf:  # py313, linux only
        assert [n for n in zf.namelist() if n.startswith("wheels/")] == [
            "wheels/pyzmq-27.3.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl"]
        text = zf.read("blender_manifest.toml").decode()
        assert 'platforms = ["linux-x64"]' in text
        assert "# Exclusive bound. These pyzmq wheels use the stable ABI" in text  # the reason for the bound
    validators = [b for b in BLENDERS if b.unavailable() is None]
    assert validators, "no Blender to validate with"
    for blender in validators:  # Blender's own extension validator, in each Blender there is
        for path in first:
            out = subprocess.run([str(blender.python), str(blender.ext_cli), "validate", str(path)],
                                 capture_output=True, text=True)
            assert out.returncode == 0 and "Success" in out.stdout, (blender, path, out.stdout + out.stderr)


def test_each_blender_gets_the_zip_for_its_python():
    for version, target in [((4, 2, 0), PY311), ((5, 0, 1), PY311), ((5, 1, 0), PY313), ((5, 2, 3), PY313),
                            ((5, 3, 0), PY313), ((5, 9, 9), PY313)]:
        assert build_addon.target_for_blender(version) is target
    for version in [(4, 1, 1), (6, 0, 0)]:
        with pytest.raises(build_addon.BuildError, match="no build target covers"):
            build_addon.target_for_blender(version)
    for target in build_addon.BUILD_TARGETS:
        build_addon.check_target(target)  # no refusal
        assert all(w.loads_on(target.python) for w in target.wheels)


def test_wheel_tags_decide_the_pythons_it_loads_on():
    (cp311, *_), (abi3, *_) = PY311.wheels, PY313.wheels
    assert cp311.loads_on("3.11") and not cp311.loads_on("3.12") and not cp311.loads_on("3.13")
    assert not abi3.loads_on("3.11") and all(abi3.loads_on(v) for v in ("3.12", "3.13", "3.14"))


@pytest.mark.parametrize("target, message", [
    (dataclasses.replace(PY311, blender_max="6.0.0"),  # cp311 wheels claimed for the 3.13 Blenders
     "it includes Blender 5.1.0 to 6.0.0 (exclusive), which embeds Python 3.13, and these wheels do not load on "
     "Python 3.13: pyzmq-27.3.0-cp311-cp311-win_amd64.whl"),
    (dataclasses.replace(PY313, blender_min="5.0.0"),  # abi3-cp312 wheels claimed for Blender 5.0 (Python 3.11)
     "it includes Blender 5.0.0 to 5.1.0 (exclusive), which embeds Python 3.11, and these wheels do not load on "
     "Python 3.11: pyzmq-27.3.0-cp312-abi3-win_amd64.whl"),
    (dataclasses.replace(PY313, blender_max="6.1.0"), "only Blender 4.2.0 to 6.0.0 (exclusive) have a known Python"),
    (dataclasses.replace(PY313, wheels=PY311.wheels[:1] + PY313.wheels[1:]),
     "mixes version-specific and stable-ABI (abi3) wheels"),
    (dataclasses.replace(PY313, wheels=PY313.wheels[1:]), "not each of"),
], ids=["py311-wheels-for-5.1", "abi3-cp312-wheels-for-5.0", "unknown-blender", "mixed-tags", "missing-platform"])
def test_a_build_claiming_a_python_its_wheels_miss_is_refused(target, message, tmp_path, monkeypatch, capsys):
    with pytest.raises(build_addon.BuildError, match="refusing build target") as e:
        build_addon.check_target(target)
    assert message in str(e.value)
    monkeypatch.setattr(build_addon, "BUILD_TARGETS", (PY311, target))  # the command line refuses it too
    assert build_addon.main(["--out", str(tmp_path), "--offline"]) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "no zip may be written when a target is refused"


def test_manifest_problems_are_reported(tmp_path):
    text = build_addon.target_manifest(build_addon.MANIFEST.read_text(), PY313)
    bad = (text.replace('network = "Connect to the local Voxel Diffusion model server"', "")
           .replace('version = "0.1.0"', 'version = "0.1"').replace('"linux-x64"]', '"linux-riscv"]'))
    with pytest.raises(build_addon.BuildError) as e:
        build_addon.validate_manifest(bad, wheel_root=tmp_path)  # no wheels there
    problems = ("version must look like 1.2.3", "network", "unknown platforms ['linux-riscv']", "listed but missing")
    for problem in problems:
        assert problem in str(e.value)
    with pytest.raises(build_addon.BuildError, match="must not set blender_version_max"):
        build_addon.target_manifest(text, PY313)  # a generated manifest is no template
