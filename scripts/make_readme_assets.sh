#!/usr/bin/env bash
# Regenerate every figure and table the README shows from the bundled models (CPU, ~20 min on 2 cores):
# evaluation report + gallery, the steps/guidance sweep, Blender renders of every class in both mesh
# styles, the artist-control pictures and the demo scene (scripts/train_default.sh draws the training loss curve).
# `make_readme_assets.sh 16` or `make_readme_assets.sh 32` re-makes only what one bundled model's figures need.
set -euo pipefail
WHICH=${1:-all}
case "$WHICH" in 16|32|all) ;; *) echo "usage: $0 [16|32|all]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/default_16.safetensors}
PY=.venv/bin/python
mkdir -p docs/eval docs/images

if [ "$WHICH" != 32 ]; then
# Every 16^3 evaluation against the references of the first training run (data seed 1 + 1), so its rows compare
# with the README's earlier ones (a continued model's own default is its last stage's data seed + 1).
REF="--reference-seed 2"

# The evaluation at the panel's default settings (the eval command's defaults), then the sweep around them.
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF \
    --n-per-class 16 --gallery-columns 6 --out docs/eval
# The same on 256 fresh seeds: the defaults were chosen on seeds 0-255, so this is the unbiased check.
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF \
    --n-per-class 16 --seed 100000 --out docs/eval/seed_100000
# Fresh seeds 700000, 32 per class, at the default settings (README "Where sampling starts").
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF \
    --n-per-class 32 --seed 700000 --out docs/eval/default_16
# The same seeds sampled from t = 999, the start before, joined and as sampled (README "Thin parts").
EVAL_999="$PY scripts/spacing_diagnosis.py eval --first 999 -- --checkpoint $MODEL --classifier models/classifier_16.safetensors $REF"
$EVAL_999 --n-per-class 32 --seed 700000 --out docs/eval/seed_700000
$EVAL_999 --n-per-class 32 --seed 700000 --no-join-parts --out docs/eval/seed_700000_raw
# 128 per class on seeds 1200000 at the default settings (README "At 128 per class"), and guidance only in the
# middle of the timeline on the fresh seeds of both models (the reports only; README "Guidance only in the middle").
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF \
    --n-per-class 128 --seed 1200000 --out docs/eval/seed_1200000_128
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF \
    --n-per-class 32 --seed 700000 --guidance-interval 0.28 5.42 --gallery-columns 0 --out docs/eval/interval_16
$PY -m diffusion_core eval --checkpoint "$MODEL" --classifier models/classifier_16.safetensors $REF --sweep \
    --n-per-class 4 --sweep-steps ddim:10,ddim:25,ddpm:10,ddpm:25,ddpm:50,ddpm:100,ddpm:1000 \
    --sweep-guidance 1,1.5,2,3,5 --batch-size 128 --out docs/eval
# How closely it takes an asked hue, and the picture of eight asked hues (README "Colour fidelity").
$PY scripts/hue_adherence.py "$MODEL" --n-per-class 8 --png docs/images/hue_16_asked.png | tee docs/eval/hue_adherence_16.txt
$PY scripts/with_server.py "$MODEL" examples/render_gallery.py --out docs/images
$PY scripts/with_server.py "$MODEL" examples/render_artist_control.py --out docs/images
$PY scripts/with_server.py "$MODEL" examples/populate_scene.py --out out/demo --count 8 --samples 32 \
    --resolution 960 640
cp out/demo/scene.png docs/images/scene.png
fi

if [ "$WHICH" != 16 ]; then
$PY -m diffusion_core eval --checkpoint models/detailed_32.safetensors --classifier models/classifier_32.safetensors \
    --n-per-class 16 --seed 700000 --guidance-interval 0.28 5.42 --gallery-columns 0 --out docs/eval/interval_32
# The detailed 32^3 model: its evaluation on four fresh seed sets (against the references of its first training
# run, data seed 1 + 1, as every row of README "The detailed model") and its gallery.
for SET in "700000 16 detailed_32" "1300000 16 seed_1300000_32" "1400000 32 seed_1400000_32" \
           "1500000 32 seed_1500000_32"; do
    read -r SEED N DIR <<< "$SET"
    $PY -m diffusion_core eval --checkpoint models/detailed_32.safetensors --classifier models/classifier_32.safetensors \
        --n-per-class "$N" --seed "$SEED" --reference-seed 2 --out "docs/eval/$DIR"
done
$PY scripts/with_server.py models/detailed_32.safetensors examples/render_gallery.py --out docs/images --name gallery_32
fi
