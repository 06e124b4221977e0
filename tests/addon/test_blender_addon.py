"""The add-on inside a real Blender (the bpy module), against a real model server."""
import pytest

pytestmark = pytest.mark.blender


def test_scene_build_from_synthetic_voxels(run_in_blender):
    run_in_blender("synthetic_build")


def test_installed_extension_operators(run_in_blender, addon_zip, server_port, dead_port):
    run_in_blender("installed_extension", zip_path=str(addon_zip), port=server_port, dead_port=dead_port)


def test_background_job_timer_path(run_in_blender, server_port, tiny_checkpoint):
    output = run_in_blender("background_job", port=server_port, checkpoint=str(tiny_checkpoint))
    assert "killed server reported after" in output


def test_scripting_api(run_in_blender, server_port, tmp_path):
    run_in_blender("scripting_api", port=server_port, out_dir=str(tmp_path))
