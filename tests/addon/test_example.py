"""examples/populate_scene.py end to end in each real Blender against a tiny server: a rendered PNG and
a .blend. The script imports the add-on from this checkout; where the environment has no pyzmq
(bpy 5.3.0 on Python 3.13), its `import zmq` is served by the wheel of the extension installed from
the zip into the same user folder (Blender puts the extensions' site-packages on sys.path)."""
import os
import subprocess

import matplotlib.image
import pytest

from tests.addon.conftest import REPO

pytestmark = pytest.mark.blender


def test_populate_scene_example(blender, run_in_blender, blender_user, addon_zip, server_port, tmp_path):
    run_in_blender("install_only", zip_path=str(addon_zip), wheel_only=not blender.has_pyzmq)
    out = tmp_path / "example"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(blender_user)}
    proc = subprocess.run(
        [str(blender.python), str(REPO / "examples" / "populate_scene.py"), "--port", str(server_port),
         "--out", str(out), "--samples", "1", "--resolution", "64", "48", "--count", "2", "--steps", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    png, blend = out / "scene.png", out / "scene.blend"
    assert blend.stat().st_size > 50_000
    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (48, 64)
    top = image[:4, :, :3].mean()  # sky above the horizon: light, not the default dark grey
    assert top > 0.5, top
    assert image[..., :3].std() > 0.02  # ground and objects, not a blank frame
