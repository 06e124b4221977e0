"""Run a script against a model server that lives only as long as the script.

    .venv/bin/python scripts/with_server.py CHECKPOINT SCRIPT [SCRIPT ARGS...]

Starts `python -m server serve --checkpoint CHECKPOINT` on a free loopback port, waits for READY,
runs `python SCRIPT --port PORT [SCRIPT ARGS...]` (e.g. examples/populate_scene.py), then stops the
server. Exits with the script's exit code.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from server.launch import ServerProcess  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    checkpoint, script, script_args = Path(argv[0]), argv[1], argv[2:]
    if not checkpoint.is_file():
        print(f"error: checkpoint not found: {checkpoint}", file=sys.stderr)
        return 2
    with ServerProcess(checkpoint, threads=None) as server:
        print(f"server ready at {server.address} (log: {server.log_path})", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, script, "--port", str(server.port), *script_args], cwd=ROOT).returncode
        print(f"{script} finished in {time.monotonic() - started:.1f} s (exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
