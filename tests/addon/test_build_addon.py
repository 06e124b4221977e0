"""build_addon.py: manifest validation and reproducible, Blender-valid zips (no Blender process needed)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import build_addon

BLENDER_EXT_CLI = next(Path(p) for p in sys.path if (Path(p) / "bpy").is_dir()) / "bpy/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py"


def test_zips_are_reproducible_and_valid_for_blender(tmp_path):
    first = build_addon.build(tmp_path / "a", split_platforms=True)
    second = build_addon.build(tmp_path / "b", split_platforms=True)
    assert [p.name for p in first] == ["voxel_diffusion-0.1.0.zip"] + [
        f"voxel_diffusion-0.1.0-{p}.zip" for p in ("windows_x64", "macos_arm64", "macos_x64", "linux_x64")]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    with zipfile.ZipFile(first[0]) as zf:
        names = zf.namelist()
        assert names == sorted(names) and "blender_manifest.toml" in names and "__init__.py" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert len([n for n in names if n.startswith("wheels/")]) == 3
        assert {i.date_time for i in zf.infolist()} == {build_addon.ZIP_TIMESTAMP}
    with zipfile.ZipFile(first[-1]) as zf:
        assert [n for n in zf.namelist() if n.startswith("wheels/")] == [f"wheels/{build_addon.WHEELS[2].filename}"]
        assert 'platforms = ["linux-x64"]' in zf.read("blender_manifest.toml").decode()
    for path in first:  # Blender's own extension validator
        out = subprocess.run([sys.executable, str(BLENDER_EXT_CLI), "validate", str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and "Success" in out.stdout, out.stdout + out.stderr


def test_manifest_problems_are_reported(tmp_path):
    text = build_addon.MANIFEST.read_text()
    bad = tmp_path / "blender_manifest.toml"
    bad.write_text(text.replace('network = "Connect to the local Voxel Diffusion model server"', "")
                   .replace('version = "0.1.0"', 'version = "0.1"'))
    with pytest.raises(build_addon.BuildError) as e:
        build_addon.validate_manifest(bad)
    assert "version must look like 1.2.3" in str(e.value) and "network" in str(e.value)
    assert "listed but missing" in str(e.value)  # the wheels are relative to the (temporary) manifest
