"""Keep freed memory for reuse instead of handing it back to the kernel (glibc only).

A training or evaluation batch is hundreds of megabytes (32 clips x 30 steps x 8 x 8 x 1280
floats = 315 MB), and so are some of a model's intermediate tensors. glibc serves blocks that
large with a fresh ``mmap`` and unmaps them on ``free``, so every batch pays the kernel's page
faults again on first touch: on this project's 2-core machine that was 3 of every 4 seconds spent
loading batches (``benchmarks/allocator.py`` measures it). Raising glibc's mmap
threshold and trim threshold keeps such blocks in the heap, where the next batch reuses them
already faulted in: the same effect as the jemalloc / tcmalloc preload that PyTorch's CPU
performance guides recommend, without a preload.

Only ``train`` and ``evaluate_run`` call it: their batches have a handful of fixed shapes, so
freed blocks are reused and peak memory stays where it was (memory freed stays with the process
until it exits). Streaming a long video is another matter: with it, ``glimpse predict``'s peak
memory grew with the video's length (1.7 GB for 10 s, 5.7 GB for 100 s, ``benchmarks/memory.py``;
blocks freed by the decoding thread's arena were not reused), so ``extract`` and ``predict``
keep glibc's default. ``GLIMPSE_MALLOC=default`` in the environment turns it off everywhere.
Other C libraries (macOS, musl) are left alone.
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
