"""The main job on the bundled model: start the server, build a scene headless, render it with Cycles.

    .venv/bin/python scripts/demo.py [--checkpoint models/default_16.safetensors] [--out out/demo]

Starts `python -m server serve` on a free loopback port, waits for its READY line, runs
examples/populate_scene.py with the `bpy` module (the add-on's scripting API), stops the server and
prints where the .blend and the PNG are.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from server.launch import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "default_16.safetensors")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    parser.add_argument("--count", type=int, default=8, help="objects scattered in front of the class row")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples")
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        raise SystemExit(f"checkpoint not found: {args.checkpoint}")
    with ServerProcess(args.checkpoint, threads=None, echo=lambda line: print(f"[server] {line}")) as server:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "populate_scene.py"), "--port", str(server.port),
             "--out", str(args.out), "--count", str(args.count), "--samples", str(args.samples)],
            cwd=ROOT, check=True,
        )
        print(f"scene built and rendered in {time.monotonic() - started:.1f} s")
    print(f"\nrender: {(args.out / 'scene.png').resolve()}\nblend:  {(args.out / 'scene.blend').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
