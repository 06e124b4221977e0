#!/usr/bin/env bash
# Set up the environment and run the whole test suite (CPU only, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest "$@"
