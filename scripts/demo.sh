#!/usr/bin/env bash
# The main job: set up .venv, serve the bundled model, build a scene through the add-on's scripting
# API in headless Blender (bpy), save out/demo/scene.blend and a Cycles render out/demo/scene.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/python scripts/with_server.py models/default_16.safetensors examples/populate_scene.py \
    --out out/demo --count 8 --samples 32 "$@"
echo
echo "render: $PWD/out/demo/scene.png"
echo "blend:  $PWD/out/demo/scene.blend"
