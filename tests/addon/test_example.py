"""examples/populate_scene.py end to end against a tiny server: a rendered PNG and a .blend."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.addon.conftest import REPO

pytestmark = pytest.mark.blender


def test_populate_scene_example(server_port, tmp_path):
    out = tmp_path / "example"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender_user")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "populate_scene.py"), "--port", str(server_port), "--out", str(out),
         "--samples", "1", "--resolution", "64", "48", "--count", "2", "--steps", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    png, blend = out / "scene.png", out / "scene.blend"
    assert blend.stat().st_size > 50_000
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (48, 64)
    top = image[:4, :, :3].mean()  # sky above the horizon: light, not the default dark grey
    assert top > 0.5, top
    assert image[..., :3].std() > 0.02  # ground and objects, not a blank frame
