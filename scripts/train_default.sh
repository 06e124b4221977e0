#!/usr/bin/env bash
# Train a bundled model here on the CPU: the VoxelVAE, then latent diffusion on its latents, then export
# models/NAME.safetensors (float16 EMA UNet + VAE) and its sidecar models/NAME.json. Every stage resumes from
# its run directory, so re-running this script continues where it stopped.
#   nohup bash scripts/train_default.sh > runs/train_default.log 2>&1 &                       # default_16
#   NAME=detailed_32 VAE=vae_32_f4 LATENT=latent_32_f4 \
#     MORE="--optim.steps 8000 --optim.cooldown_steps 1600 --optim.lr 2e-4" nohup bash scripts/train_default.sh ... # 32^3
# MORE: overrides of a second stage that resumes the diffusion run (the 32^3 model's second cosine cycle).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}   # torch threads per run (the bundled model: 1 for the VAE, 2 for the diffusion; see models/default_16.json)
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
PY=.venv/bin/python
NAME=${NAME:-default_16} VAE=${VAE:-vae_16_f2} LATENT=${LATENT:-latent_16_f2}
LOSS_PNG=${LOSS_PNG:-docs/images/loss_latent_${NAME##*_}.png}
mkdir -p runs models

# stage NAME CMD...: run CMD (adding --resume when the run has a checkpoint) and add its wall time to runs/NAME.wall_s
stage() {
  local name=$1; shift
  local start=$SECONDS resume=()
  [[ -f runs/$name/ckpt_last.safetensors ]] && resume=(--resume)
  "$@" "${resume[@]}"
  local prev; prev=$(cat "runs/$name.wall_s" 2>/dev/null || echo 0)
  echo $((prev + SECONDS - start)) > "runs/$name.wall_s"
}

VAE_CMD=($PY -m diffusion_core train-vae --config configs/$VAE.json --out runs/$VAE)
LATENT_CMD=($PY -m diffusion_core train --config configs/$LATENT.json --out runs/$LATENT)
stage $VAE "${VAE_CMD[@]}"
stage $LATENT "${LATENT_CMD[@]}"
MORE_CMD=()
if [[ -n ${MORE:-} ]]; then
  read -ra more <<< "$MORE"
  MORE_CMD=($PY -m diffusion_core train --out runs/$LATENT "${more[@]}")
  stage $LATENT "${MORE_CMD[@]}"
fi

cp runs/$LATENT/model_ema_fp16.safetensors models/$NAME.safetensors
$PY scripts/describe_default_model.py --model models/$NAME.safetensors --vae-run runs/$VAE \
  --latent-run runs/$LATENT --out models/$NAME.json --png models/${NAME}_samples.png \
  --loss-png "$LOSS_PNG" \
  --wall "$(cat runs/$VAE.wall_s)" "$(cat runs/$LATENT.wall_s)" --threads "$THREADS" \
  --commands "OMP_NUM_THREADS=$THREADS ${VAE_CMD[*]} [--resume]" "OMP_NUM_THREADS=$THREADS ${LATENT_CMD[*]} [--resume]" \
             ${MORE:+"OMP_NUM_THREADS=$THREADS ${MORE_CMD[*]} --resume"}
