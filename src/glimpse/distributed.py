"""More than one process (``torchrun``): starting the process group, and work spread over the
ranks and gathered back.

Under ``torchrun --nproc-per-node N`` (WORLD_SIZE > 1) every process calls ``start``: gloo on
the CPU, NCCL on GPUs, each rank on cuda:LOCAL_RANK. ``spread`` runs a function on every
rank's share of a list (items rank, rank + N, ...) and gives every rank the whole result in the
list's order, so each item is computed once. ``finish`` leaves the group when a command ends.
"""

from __future__ import annotations

import os
import sys


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(device: str) -> tuple[int, int, str]:
    """(rank, world size, this rank's device); (0, 1, device) in a single process."""
    world = world_size()
    if world <= 1:
        return 0, 1, device
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), world, f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else device


def finish() -> None:
    """Leave the process group, if this process joined one: every command ends here. A process
    that exits with gloo's group alive can abort in teardown (its worker threads outlive the
    interpreter: "terminate called without an active exception", SIGABRT)."""
    if "torch.distributed" not in sys.modules:  # (a command that never loaded torch)
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> tuple[int, int]:
    """(rank, world size) of the running process group, (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def spread(fn, items: list) -> list:
    """``fn(share)`` -> a list as long as ``share``, on every rank's share of ``items``, gathered
    (``all_gather_object``) into the whole list on every rank."""
    rank, world = active()
    if world == 1:
        return fn(items)
    import torch.distributed as dist

    parts = [None] * world
    dist.all_gather_object(parts, fn(items[rank::world]))
    out: list = [None] * len(items)
    for r, part in enumerate(parts):
        out[r::world] = part
    return out
