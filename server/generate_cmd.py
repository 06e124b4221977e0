"""`python -m server generate`: one-shot generation without Blender.

Writes, per object, OUT/<class>_<seed>.npz (voxels float32 [C, R, R, R] in [0, 1], class_name, seed)
and OUT/<class>_<seed>.ply (or .obj) with colours. Runs the model in-process, or asks a running
server with --server tcp://HOST:PORT (then --checkpoint is not needed; IPv6: tcp://[::1]:PORT).
A server protected by CurveZMQ needs --curve-client-secret DIR/clients/NAME.key_secret and
--curve-server-public DIR/server.key (see `python -m server keys`).

Artist control: --init FILE (.npz from `generate`, a MagicaVoxel .vox, or an .obj / .ply mesh, voxelised) starts
from that grid at --strength; --region x0,y0,z0,x1,y1,z1 regenerates only that box of it; --blend-seed B makes
--count in-betweens from --seed's object to B's. --palette K | preset | '#rrggbb,...' snaps the colours to
flat parts; --format vox writes MagicaVoxel files (the voxels, with their palette). --hue H asks a model that takes a
colour for objects whose main colour has hue H (0 red, 1/3 green, 2/3 blue).

Exit codes: 0 done, 1 generation failed (unknown class, server error, ...), 2 unreadable checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from blender_addon.shared.client import ClientError, CurveKeys, VoxelClient
from blender_addon.shared.palette import PRESETS, snap_to_palette
from blender_addon.shared.protocol import GenerateRequest, GenerateResult, ModelInfo, ProtocolError, split_tcp_address
from blender_addon.shared.settings import DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE, MESH_STYLES
from blender_addon.shared.vox import write_vox
from server.grid_files import INIT_SUFFIXES, load_init, region_box
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
    p.add_argument("--format", choices=sorted(WRITERS) + ["vox"], default="ply")
    p.add_argument("--init", type=Path, help=f"a start grid: {', '.join(INIT_SUFFIXES)}")
    p.add_argument("--strength", type=float, default=1.0, help="with --init: 0 keeps it, 1 is plain generation")
    p.add_argument("--region", help="with --init: regenerate only the box x0,y0,z0,x1,y1,z1 (voxels, end exclusive)")
    p.add_argument("--blend-seed", type=int, help="in-betweens from --seed's object to this seed's (--count of them)")
    p.add_argument("--hue", type=float, help="the objects' main colour, a hue in [0, 1] from red (a model that takes "
                   "one; default: each object's own, from its seed)")
    p.add_argument("--palette", help="snap colours: a number of colours K, a preset (" + ", ".join(PRESETS)
                   + ") or '#rrggbb,#rrggbb,...'")
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
    if args.region and args.init is None:
        p.error("--region marks part of an --init grid")
    if args.model and args.server is None:
        p.error("--model picks one of a server's models; with --checkpoint the checkpoint is the model")
    return args


RequestFor = Callable[[ModelInfo], GenerateRequest]
"""The request to send, given the model it will run on (an --init grid is voxelised at its resolution)."""


def generate_in_process(checkpoint: Path, device: str, request_for: RequestFor) -> tuple[GenerateRequest, GenerateResult]:
    from server.results import build_result

    gen = load_generator(checkpoint, device)
    request = request_for(ModelInfo(gen.model_name, tuple(gen.class_names), gen.resolution, gen.channels, gen.max_steps,
                                    gen.hue_conditional))
    label = request.class_label
    if isinstance(label, str):
        if label not in gen.class_names:
            raise ValueError(f"unknown class {label!r}; this model knows: {', '.join(gen.class_names)}")
        label = gen.class_names.index(label)
    voxels = gen.generate([label] * request.count, request.seeds, steps=request.steps, sampler=request.sampler,
                          eta=request.eta, guidance=request.guidance, edit=request.edit(),
                          hues=[request.hue] * request.count)
    return request, build_result(voxels, request, gen.class_names[label])


def generate_via_server(address: str, timeout_s: float, request_for: RequestFor, model: str,
                        curve: CurveKeys | None = None) -> tuple[GenerateRequest, GenerateResult]:
    host, port = split_tcp_address(address)
    with VoxelClient(host, port, timeout_s=timeout_s, curve=curve) as client:
        info = client.hello()
        served = info.model(model)
        if served is None:
            raise ValueError(f"the server has no model {model!r}; it serves: {', '.join(m.name for m in info.models)}")
        request = request_for(served)
        job = client.submit(request)
        for p in job.progress():
            print(f"\rstep {p.step}/{p.total}", end="", flush=True)
        print()
        return request, job.result()


def write_outputs(result: GenerateResult, out: Path, fmt: str, alpha_threshold: float) -> list[Path]:
    """Per object: <class>_<seed>[_i].npz and the mesh (or .vox) file; in-betweens of a blend share a seed, so
    their names carry the object's index."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    repeated = len(set(result.seeds)) < len(result.seeds)
    for i, seed in enumerate(result.seeds):
        stem = out / (f"{result.class_name}_{seed}" + (f"_{i}" if repeated else ""))
        np.savez_compressed(stem.with_suffix(".npz"), voxels=result.voxels[i], class_name=result.class_name,
                            seed=np.int64(seed))
        if fmt == "vox":
            write_vox(stem.with_suffix(".vox"), result.voxels[i], alpha_threshold)
        else:
            WRITERS[fmt](stem.with_suffix(f".{fmt}"), result.meshes[i])
        written += [stem.with_suffix(".npz"), stem.with_suffix(f".{fmt}")]
    return written


def snap_colours(result: GenerateResult, request: GenerateRequest, palette: str) -> GenerateResult:
    """The result with every object's colours snapped to flat parts (and its meshes rebuilt from them)."""
    from server.results import build_result

    spec: int | str = int(palette) if palette.isdigit() else palette
    spec = spec.split(",") if isinstance(spec, str) and spec.startswith("#") else spec
    kwargs = {"k": spec} if isinstance(spec, int) else {"palette": spec}
    voxels = np.stack([snap_to_palette(v, request.alpha_threshold, **kwargs)[0] for v in result.voxels])
    return replace(build_result(voxels, request, result.class_name), seeds=result.seeds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    label: str | int = int(args.class_label) if args.class_label.isdigit() else args.class_label

    def request_for(model: ModelInfo) -> GenerateRequest:
        edits: dict = {} if args.blend_seed is None else {"blend_seed": args.blend_seed}
        if args.init is not None:
            edits |= {"init": load_init(args.init, model.channels, model.resolution), "strength": args.strength}
        if args.region is not None:
            edits["region"] = region_box(args.region, model.resolution)
        return GenerateRequest(class_label=label, model=args.model, seed=args.seed, count=args.count, steps=args.steps,
                               sampler=args.sampler, eta=args.eta, guidance=args.guidance, outputs=("voxels", "mesh"),
                               mesh_style=args.mesh_style, alpha_threshold=args.alpha_threshold,
                               mesh_size=args.mesh_size, join_parts=args.join_parts, hue=args.hue, **edits)

    try:
        if args.server:
            curve = None
            if args.curve_client_secret is not None:
                curve = CurveKeys.from_files(args.curve_client_secret, args.curve_server_public)
            request, result = generate_via_server(args.server, args.timeout, request_for, args.model, curve)
        else:
            request, result = generate_in_process(args.checkpoint, args.device, request_for)
        if args.palette:
            result = snap_colours(result, request, args.palette)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ClientError, ProtocolError, ValueError, OSError) as e:  # one actionable line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in write_outputs(result, args.out, args.format, args.alpha_threshold):
        print(path)
    return 0
