#!/usr/bin/env bash
# Set up the environment and run the main job on the bundled default model (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python scripts/demo.py "$@"
