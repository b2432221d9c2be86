"""Multi-process training with torch.distributed, as launched by `torchrun`.

`torchrun --nproc_per_node=N -m chapter11 train ...` starts N copies of the same command with
RANK, WORLD_SIZE and LOCAL_RANK in their environment. Each copy (rank) draws its own batches
from its own seeded generator; DistributedDataParallel averages the gradients, so N ranks with
batch B update exactly like one process with a batch of N·B (for losses that are batch means).
Only rank 0 logs, draws sample grids and writes checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

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


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank r's batch/noise generator; rank 0 keeps `seed`, so one process is unchanged."""
    return seed + 1_000_003 * rank


def setup(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes in the environment (no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def device_for(device: torch.device, info: DistInfo) -> torch.device:
    """Each rank on a GPU machine gets its own GPU (cuda:LOCAL_RANK)."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj`, in rank order (a list of one without distribution)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown() -> None:
    """Leave the process group. Call it after the DDP-wrapped models are gone: a process group
    destroyed under a live DDP reducer, or never destroyed, can abort the process at exit."""
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()  # drop unreachable DDP wrappers before their process group
        dist.destroy_process_group()
