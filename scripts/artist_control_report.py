"""Artist control measured on a model (issue 12): block-out to object across strengths, and inpainting.

    .venv/bin/python scripts/artist_control_report.py --out docs/eval/artist_control   # ~3 min on 2 cores

Block-outs are coarse versions of held-out data shapes (data seed 4242, never trained on): each 2x2x2 block
becomes one voxel (solid where most of it is, its mean colour) and is blown back up to the full grid. For every
strength the model regenerates each block-out as its own class; the table gives the output's occupancy IoU
with the block-out and with the original shape, and the classifier's accuracy. Inpainting regenerates the top
half (z >= R/2) of plain samples with other seeds and compares one-component rate and accuracy with the plain
samples; every voxel of the kept half is checked to be unchanged. Default sampling settings throughout.
Writes report.json and report.md under --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from blender_addon.shared.edits import Edit
from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.evaluation.metrics import single_component
from diffusion_core.models.classifier import load_classifier
from diffusion_core.pipeline import VoxelGenerator

STRENGTHS = (0.0, 0.3, 0.5, 0.7, 1.0)


def coarse(voxels: np.ndarray) -> np.ndarray:
    """[N, 4, R, R, R] -> the same grid at half resolution, blown back up (alpha: majority; RGB: block mean)."""
    n, c, r = voxels.shape[0], voxels.shape[1], voxels.shape[-1]
    blocks = voxels.reshape(n, c, r // 2, 2, r // 2, 2, r // 2, 2).mean(axis=(3, 5, 7))
    blocks[:, -1] = (blocks[:, -1] >= 0.5).astype(np.float32)
    return blocks.repeat(2, axis=2).repeat(2, axis=3).repeat(2, axis=4)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """bool [N, R, R, R] pairs -> IoU [N]."""
    inter, union = (a & b).sum((1, 2, 3)), (a | b).sum((1, 2, 3))
    return inter / np.maximum(union, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="models/default_16.safetensors")
    parser.add_argument("--classifier", default="models/classifier_16.safetensors")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = VoxelGenerator.from_checkpoint(args.checkpoint)
    classifier, class_names, _ = load_classifier(args.classifier)
    k, r = len(gen.class_names), gen.resolution
    data = make_synthetic_dataset(k * args.per_class, resolution=r, seed=4242)
    labels = data.labels.tolist()
    seeds = list(range(700000, 700000 + len(labels)))
    blockout = coarse(data.voxels)
    solid = lambda v: v[:, -1] >= DEFAULT_ALPHA_THRESHOLD  # noqa: E731

    def run(edit: Edit | None, seeds_: list[int]) -> np.ndarray:
        out = [gen.generate(labels[i:i + 64], seeds_[i:i + 64],
                            edit=None if edit is None else _slice(edit, i, i + 64)) for i in range(0, len(labels), 64)]
        return np.concatenate(out)

    def accuracy(v: np.ndarray) -> float:
        names = [class_names[i] for i in classifier.predict(v)]
        return float(np.mean([n == gen.class_names[l] for n, l in zip(names, labels)]))

    rows = []
    for strength in STRENGTHS:
        out = run(Edit(init=blockout, strength=strength), seeds)
        rows.append({"strength": strength, "iou_blockout": float(iou(solid(out), solid(blockout)).mean()),
                     "iou_shape": float(iou(solid(out), solid(data.voxels)).mean()), "accuracy": accuracy(out),
                     "one_component": float(single_component(solid(out)).mean())})
        print(rows[-1], flush=True)
    plain = run(None, seeds)
    region = np.zeros((len(labels), r, r, r), bool)
    region[..., r // 2:] = True
    inpainted = run(Edit(init=plain, region=region), [s + 1000 for s in seeds])
    kept = np.broadcast_to(~region[:, None], plain.shape)
    assert np.array_equal(inpainted[kept], plain[kept]), "inpainting changed a kept voxel"
    inpaint = {"plain": {"accuracy": accuracy(plain), "one_component": float(single_component(solid(plain)).mean())},
               "top_half_regenerated": {"accuracy": accuracy(inpainted),
                                        "one_component": float(single_component(solid(inpainted)).mean()),
                                        "kept_voxels_unchanged": True}}
    print(inpaint, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": args.checkpoint, "samples": len(labels), "data_seed": 4242, "seeds": [seeds[0], seeds[-1]],
              "blockout_to_object": rows, "inpainting": inpaint}
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["| strength | IoU with the block-out | IoU with the original shape | accuracy | one component |",
             "|---|---|---|---|---|"]
    lines += [f"| {x['strength']:.1f} | {x['iou_blockout']:.3f} | {x['iou_shape']:.3f} | {x['accuracy']:.1%} | "
              f"{x['one_component']:.1%} |" for x in rows]
    lines += ["", "| inpainting (top half) | accuracy | one component |", "|---|---|---|"]
    lines += [f"| {name} | {v['accuracy']:.1%} | {v['one_component']:.1%} |" for name, v in inpaint.items()]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _slice(edit: Edit, a: int, b: int) -> Edit:
    return Edit(init=edit.init[a:b], strength=edit.strength, region=None if edit.region is None else edit.region[a:b])


if __name__ == "__main__":
    raise SystemExit(main())
