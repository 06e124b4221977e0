#!/usr/bin/env bash
# Set up the environments and run the whole test suite (CPU only, offline), in every Blender there is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --blenders
exec .venv/bin/python -m pytest -rs "$@"  # -rs: every skip says why (a Blender that could not be installed)
