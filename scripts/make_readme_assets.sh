#!/usr/bin/env bash
# Regenerate every figure and table the README shows from the bundled model (CPU, ~15 min on 2 cores):
# evaluation report + gallery, the steps/guidance sweep, Blender renders of every class in both mesh
# styles, the demo scene, and the training loss curve (when runs/latent_16 exists).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/default_16.safetensors}
PY=.venv/bin/python
mkdir -p docs/eval docs/images

$PY -m server eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors \
    --n-per-class 16 --steps 25 --sampler ddim --guidance 3 --gallery-columns 6 --out docs/eval
$PY -m server eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors --sweep \
    --n-per-class 8 --sweep-steps ddim:10,ddim:25,ddim:50,ddim:100,ddpm:1000 --sweep-guidance 1,2,3,5 \
    --guidance 3 --steps 25 --out docs/eval
$PY scripts/with_server.py "$MODEL" examples/render_gallery.py --out docs/images
$PY scripts/with_server.py "$MODEL" examples/populate_scene.py --out out/demo --count 8 --samples 32 \
    --resolution 960 640
cp out/demo/scene.png docs/images/scene.png
if [ -f runs/latent_16/loss.png ]; then cp runs/latent_16/loss.png docs/images/loss_latent_16.png; fi
