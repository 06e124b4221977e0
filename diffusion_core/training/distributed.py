"""Process-group plumbing so one training script runs alone or under `torchrun`.

torchrun (or any launcher) sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; with
WORLD_SIZE > 1 we join a process group (nccl on CUDA, gloo otherwise). Also the deterministic
data order and per-step seeds that make resumed and sharded runs reproducible.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda, then mps, then cpu. Under torchrun each process takes cuda:LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but CUDA is not available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' requested but MPS is not available")
    return torch.device(name)


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by the launcher's environment (no-op when run alone)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=info.rank, world_size=world_size)
    return info


def local_rank_from_env() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """A CPU copy of `tensor` summed over ranks (just a copy when run alone)."""
    total = tensor.detach().clone()
    if info.enabled:
        if dist.get_backend() == "nccl":
            total = total.cuda()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.cpu()


def shutdown(info: DistInfo) -> None:
    """Leave the process group. Garbage is collected first: a trainer in a reference cycle keeps its DDP wrapper,
    and with it the group, alive past destroy_process_group, to be torn down at some later collection, possibly
    during interpreter shutdown, where gloo's threads can abort the process."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def step_seed(seed: int, step: int, rank: int) -> int:
    """A well-mixed 63-bit seed for (run seed, step, rank): counter-based randomness, so a run resumed
    at any step draws exactly what an uninterrupted run would, on every rank, with no RNG state to save."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class DataOrder:
    """Which dataset indices a rank trains on at each step.

    Epoch e is a permutation from torch.Generator seeded with seed + e; step s takes global batch
    s mod steps_per_epoch of epoch s // steps_per_epoch (the incomplete tail is dropped), and rank r
    of W takes the disjoint slice batch[r::W]. Everything follows from `step`, so resume is exact.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, info: DistInfo) -> None:
        if batch_size % info.world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by the world size {info.world_size}")
        if num_samples < batch_size:
            raise ValueError(f"dataset has {num_samples} samples, fewer than one batch of {batch_size}")
        self.num_samples, self.batch_size, self.seed, self.info = num_samples, batch_size, seed, info
        self.steps_per_epoch = num_samples // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index within the epoch) of `step`."""
        return divmod(step, self.steps_per_epoch)

    def indices(self, step: int) -> torch.Tensor:
        """LongTensor [batch_size // world_size] of this rank's sample indices for `step`."""
        epoch, batch = self.position(step)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.num_samples, generator=gen)
        chunk = self._perm[batch * self.batch_size : (batch + 1) * self.batch_size]
        return chunk[self.info.rank :: self.info.world_size]
