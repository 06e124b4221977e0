#!/usr/bin/env bash
# Train the bundled default model here on the CPU: the VoxelVAE, then latent diffusion on its latents,
# then export models/default_16.safetensors (float16 EMA UNet + VAE) and its sidecar models/default_16.json.
# Every stage resumes from its run directory, so re-running this script continues where it stopped.
#   nohup bash scripts/train_default.sh > runs/train_default.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}   # torch threads per run (the bundled model: 1 for the VAE, 2 for the diffusion; see models/default_16.json)
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
PY=.venv/bin/python
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

VAE_CMD=($PY -m diffusion_core train-vae --config configs/vae_16_f2.json --out runs/vae_16_f2)
LATENT_CMD=($PY -m diffusion_core train --config configs/latent_16_f2.json --out runs/latent_16_f2)
stage vae_16_f2 "${VAE_CMD[@]}"
stage latent_16_f2 "${LATENT_CMD[@]}"

cp runs/latent_16_f2/model_ema_fp16.safetensors models/default_16.safetensors
$PY scripts/describe_default_model.py --model models/default_16.safetensors --vae-run runs/vae_16_f2 \
  --latent-run runs/latent_16_f2 --out models/default_16.json --png models/default_16_samples.png \
  --loss-png docs/images/loss_latent_16.png \
  --wall "$(cat runs/vae_16_f2.wall_s)" "$(cat runs/latent_16_f2.wall_s)" --threads "$THREADS" \
  --commands "OMP_NUM_THREADS=$THREADS ${VAE_CMD[*]} [--resume]" "OMP_NUM_THREADS=$THREADS ${LATENT_CMD[*]} [--resume]"
