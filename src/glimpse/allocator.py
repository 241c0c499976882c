"""Keep freed memory for reuse instead of handing it back to the kernel (glibc only).

A training or evaluation batch is hundreds of megabytes (32 clips x 30 steps x 8 x 8 x 1280
floats = 315 MB), and so are some of a model's intermediate tensors. glibc serves blocks that
large with a fresh ``mmap`` and unmaps them on ``free``, so every batch pays the kernel's page
faults again on first touch: on this project's 2-core machine that was 3 of every 4 seconds spent
loading batches (``benchmarks/allocator.py`` measures it). Raising glibc's mmap
threshold and trim threshold keeps such blocks in the heap, where the next batch reuses them
already faulted in: the same effect as the jemalloc / tcmalloc preload that PyTorch's CPU
performance guides recommend, without a preload.

Nothing in glimpse calls it now: mallopt is process-wide, and once a process has tuned it,
decoding video in the same process grows without bound (``glimpse predict``: 1.7 GB for a
10 s video, 5.7 GB for 100 s; ``make demo``, whose report decodes videos after training in one
process, was killed at 24 GB). ``benchmarks/allocator.py`` measures what it would be worth; a
scoped use (batches only) is future work. ``GLIMPSE_MALLOC=default`` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; True if it is tuned (now or before)."""
    global _done
    if _done:
        return True
    if os.environ.get("GLIMPSE_MALLOC") == "default" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _done
