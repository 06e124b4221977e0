"""Distributed training: data sharding, and a real 2-process gloo run under torchrun."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.training.distributed import DataOrder, DistInfo, step_seed

REPO = Path(__file__).resolve().parents[2]


def state_hash(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode() + state[key].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_ranks_take_disjoint_slices_of_the_same_seeded_batches():
    single = DataOrder(num_samples=10, batch_size=4, seed=3, info=DistInfo())
    ranks = [DataOrder(10, 4, 3, DistInfo(rank=r, world_size=2)) for r in range(2)]
    assert single.steps_per_epoch == 2
    seen = []
    for step in range(6):  # three epochs
        batch = single.indices(step)
        parts = [order.indices(step) for order in ranks]
        assert all(len(p) == 2 for p in parts)
        assert sorted(torch.cat(parts).tolist()) == sorted(batch.tolist())
        seen.append(batch)
    assert len(set(torch.cat(seen[:2]).tolist())) == 8  # no repeats inside an epoch
    assert not torch.equal(seen[0], seen[2])  # a new permutation each epoch
    assert torch.equal(DataOrder(10, 4, 3, DistInfo()).indices(5), seen[5])  # position follows from the step alone
    assert len({step_seed(0, s, r) for s in range(50) for r in range(4)}) == 200


def test_two_process_gloo_run_keeps_ranks_in_sync(tmp_path):
    """torchrun launches two CPU processes; each trains through diffusion_core.training.diffusion_trainer.train and
    writes a hash of its final weights; rank 0 alone writes the run directory; no DDP wrapper (which holds the
    process group) outlives train's shutdown of the group."""
    run, hashes = tmp_path / "run", tmp_path / "hashes"
    hashes.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import gc, os, sys
        import torch
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        torch.set_num_threads(1)
        from diffusion_core.training.diffusion_trainer import train
        from diffusion_core.training.config import TrainConfig, apply_overrides
        from test_ddp import state_hash
        base = TrainConfig.load({str(REPO / "configs" / "tiny_test.json")!r}).to_dict()
        cfg = TrainConfig.from_dict(apply_overrides(base, [("optim.steps", "4"), ("optim.label_dropout", "0.5")]))
        model = train(cfg, {str(run)!r})
        gc.disable()  # what is still alive now was kept past train's shutdown of the process group
        wrappers = [o for o in gc.get_objects() if isinstance(o, torch.nn.parallel.DistributedDataParallel)]
        with open(os.path.join({str(hashes)!r}, "rank" + os.environ["RANK"]), "w") as f:
            f.write(state_hash(model.state_dict()) + " wrappers alive: " + str(len(wrappers)))
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rank0, rank1 = (hashes / "rank0").read_text(), (hashes / "rank1").read_text()
    assert rank0 == rank1 and rank0.endswith(" wrappers alive: 0")  # the group was not kept alive past shutdown
    rank0 = rank0.split()[0]
    ckpt = load_checkpoint(run / "ckpt_last.safetensors")
    assert ckpt.step == 4 and ckpt.extra["world_size"] == 2
    assert state_hash(ckpt.model_state) == rank0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4  # one writer
