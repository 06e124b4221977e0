"""The add-on inside each real Blender (the bpy module: 4.2.0 and 5.0.1 on Python 3.11, 5.3.0 on
Python 3.13), installed from the zip built for its Python, against a real model server."""
import sys

import pytest

pytestmark = pytest.mark.blender


@pytest.fixture
def install(addon_zip, blender) -> dict:
    """The scenario arguments that install `blender`'s zip (and say whether zmq must come from its wheel)."""
    return {"zip_path": str(addon_zip), "wheel_only": not blender.has_pyzmq}


def test_scene_build_from_synthetic_voxels(run_in_blender):
    run_in_blender("synthetic_build")


def test_installed_extension_operators(run_in_blender, install, server_port, dead_port):
    run_in_blender("installed_extension", **install, port=server_port, dead_port=dead_port)


def test_background_job_timer_path(run_in_blender, install, server_port, tiny_checkpoint):
    output = run_in_blender("background_job", **install, port=server_port, checkpoint=str(tiny_checkpoint),
                            server_python=sys.executable)
    assert "killed server reported after" in output


def test_scripting_api(run_in_blender, install, server_port, tmp_path):
    run_in_blender("scripting_api", **install, port=server_port, out_dir=str(tmp_path))


def test_artist_control_api(run_in_blender, install, server_port, tmp_path):
    run_in_blender("artist_api", **install, port=server_port, out_dir=str(tmp_path))


def test_artist_control_operators(run_in_blender, install, server_port, tmp_path):
    run_in_blender("artist_operators", **install, port=server_port, out_dir=str(tmp_path))


def test_the_panel_and_the_api_pick_a_model(run_in_blender, install, two_model_port):
    run_in_blender("two_models", **install, port=two_model_port)


def test_zip_for_another_python_is_refused(run_in_blender, blender, addon_zips):
    """Each Blender refuses the other zip by its version bounds, before any wheel could fail to load."""
    (other,) = (path for name, path in addon_zips.items() if name != blender.target.name)
    output = run_in_blender("refused_install", zip_path=str(other))
    assert "minimum supported version" in output or "must be less than the maximum version" in output, output
