#!/usr/bin/env bash
# Train denoiser configs on a lent GPU inside one device call and bring back what bundling needs.
#
#   (device tool) run(command="bash scripts/device_train.sh configs/latent_32_f4_gpu.json configs/latent_16_f2_gpu.json",
#                     timeout_s=600)
#
# Each config trains to its end in /tmp/device_runs/NAME (from its init_from model, on cuda in bf16), one after the
# other, each under BUDGET_S seconds (default 240; a run that outlasts it is stopped and brings back nothing).
# Into $OUT/NAME/ go its float16 EMA export (model_ema_fp16.safetensors, ~7 MB: under the tool's 16 MiB a file),
# metrics.jsonl and the train log. The runs embed the bundled models' VAEs (their decoders trained on alone
# included), so an export is a whole model: back here, eval it on fresh seeds before bundling it. EXTRA adds overrides to every run (a CPU smoke test of this script:
# OUT=/tmp/o BUDGET_S=300 EXTRA="--device cpu --bf16 false --optim.steps 2 --data.num_samples 64" bash scripts/device_train.sh CONFIG).
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
python=${PYTHON:-python3}
budget=${BUDGET_S:-240}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi: $(uname -m)"
for config in "$@"; do
    name=$(basename "$config" .json)
    run=/tmp/device_runs/$name
    mkdir -p "$out/$name"
    start=$(date +%s)
    # shellcheck disable=SC2086  # EXTRA is a list of --key value overrides
    PYTHONUNBUFFERED=1 timeout "$budget" "$python" -m diffusion_core train --config "$config" --out "$run" ${EXTRA:-} \
        > "$out/$name/train.log" 2>&1
    status=$?
    echo "$name: exit $status after $(( $(date +%s) - start )) s"
    tail -c 400 "$out/$name/train.log" | tr '\r' '\n' | tail -3
    cp "$run/metrics.jsonl" "$out/$name/" 2>/dev/null
    [ "$status" = 0 ] && cp "$run/model_ema_fp16.safetensors" "$out/$name/"
done
ls -la "$out"/*
