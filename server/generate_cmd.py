"""`python -m server generate`: one-shot generation without Blender.

Writes, per object, OUT/<class>_<seed>.npz (voxels float32 [C, R, R, R] in [0, 1], class_name, seed)
and OUT/<class>_<seed>.ply (or .obj) with colours. Runs the model in-process, or asks a running
server with --server tcp://HOST:PORT (then --checkpoint is not needed; IPv6: tcp://[::1]:PORT).
A server protected by CurveZMQ needs --curve-client-secret DIR/clients/NAME.key_secret and
--curve-server-public DIR/server.key (see `python -m server keys`).

Exit codes: 0 done, 1 generation failed (unknown class, server error, ...), 2 unreadable checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from blender_addon.shared.client import ClientError, CurveKeys, VoxelClient
from blender_addon.shared.protocol import GenerateRequest, GenerateResult, ProtocolError, split_tcp_address
from blender_addon.shared.settings import DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE, MESH_STYLES
from server.mesh_io import WRITERS
from server.model_loading import CheckpointError, load_generator
from blender_addon.shared.sampling_args import add_sampling_arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m server generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--server", help="tcp://HOST:PORT of a running `serve`")
    p.add_argument("--class", dest="class_label", required=True, help="class name or index")
    p.add_argument("--model", default="", help="with --server: which of its models (default: the server's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    add_sampling_arguments(p)
    p.add_argument("--mesh-style", choices=MESH_STYLES, default=DEFAULT_MESH_STYLE)
    p.add_argument("--mesh-size", type=float, default=DEFAULT_MESH_SIZE, help="edge length of the grid in mesh units")
    p.add_argument("--format", choices=sorted(WRITERS), default="ply")
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=10.0, help="server silence (s) before giving up")
    p.add_argument("--curve-client-secret", type=Path,
                   help="with --server: this client's CurveZMQ key pair (DIR/clients/NAME.key_secret)")
    p.add_argument("--curve-server-public", type=Path, help="with --server: the server's public key (DIR/server.key)")
    p.add_argument("--out", type=Path, default=Path("out"))
    args = p.parse_args(argv)
    if (args.curve_client_secret is None) != (args.curve_server_public is None):
        p.error("--curve-client-secret and --curve-server-public go together")
    if args.curve_client_secret is not None and args.server is None:
        p.error("the --curve-* options are for --server")
    if args.model and args.server is None:
        p.error("--model picks one of a server's models; with --checkpoint the checkpoint is the model")
    return args


def generate_in_process(checkpoint: Path, device: str, request: GenerateRequest) -> GenerateResult:
    from server.results import build_result

    gen = load_generator(checkpoint, device)
    label = request.class_label
    if isinstance(label, str):
        if label not in gen.class_names:
            raise ValueError(f"unknown class {label!r}; this model knows: {', '.join(gen.class_names)}")
        label = gen.class_names.index(label)
    voxels = gen.generate([label] * request.count, request.seeds, steps=request.steps, sampler=request.sampler,
                          eta=request.eta, guidance=request.guidance)
    return build_result(voxels, request, gen.class_names[label])


def generate_via_server(address: str, timeout_s: float, request: GenerateRequest,
                        curve: CurveKeys | None = None) -> GenerateResult:
    host, port = split_tcp_address(address)
    with VoxelClient(host, port, timeout_s=timeout_s, curve=curve) as client:
        job = client.submit(request)
        for p in job.progress():
            print(f"\rstep {p.step}/{p.total}", end="", flush=True)
        print()
        return job.result()


def write_outputs(result: GenerateResult, out: Path, fmt: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, seed in enumerate(result.seeds):
        stem = out / f"{result.class_name}_{seed}"
        np.savez_compressed(stem.with_suffix(".npz"), voxels=result.voxels[i], class_name=result.class_name,
                            seed=np.int64(seed))
        WRITERS[fmt](stem.with_suffix(f".{fmt}"), result.meshes[i])
        written += [stem.with_suffix(".npz"), stem.with_suffix(f".{fmt}")]
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    label: str | int = int(args.class_label) if args.class_label.isdigit() else args.class_label
    try:
        request = GenerateRequest(class_label=label, model=args.model, seed=args.seed, count=args.count, steps=args.steps,
                                  sampler=args.sampler, eta=args.eta, guidance=args.guidance,
                                  outputs=("voxels", "mesh"), mesh_style=args.mesh_style,
                                  alpha_threshold=args.alpha_threshold, mesh_size=args.mesh_size)
        if args.server:
            curve = None
            if args.curve_client_secret is not None:
                curve = CurveKeys.from_files(args.curve_client_secret, args.curve_server_public)
            result = generate_via_server(args.server, args.timeout, request, curve)
        else:
            result = generate_in_process(args.checkpoint, args.device, request)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ClientError, ProtocolError, ValueError, OSError) as e:  # one actionable line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in write_outputs(result, args.out, args.format):
        print(path)
    return 0
