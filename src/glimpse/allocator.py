"""Keep freed memory for reuse instead of handing it back to the kernel (glibc only).

A training or evaluation batch is hundreds of megabytes (32 clips x 30 steps x 8 x 8 x 1280
floats = 315 MB), and so are some of a model's intermediate tensors. glibc serves blocks that
large with a fresh ``mmap`` and unmaps them on ``free``, so every batch pays the kernel's page
faults again on first touch: on this project's 2-core machine that was 3 of every 4 seconds spent
loading batches (``benchmarks/allocator.py`` measures it). Raising glibc's mmap
threshold and trim threshold keeps such blocks in the heap, where the next batch reuses them
already faulted in: the same effect as the jemalloc / tcmalloc preload that PyTorch's CPU
performance guides recommend, without a preload.

mallopt is process-wide, and a process that decodes video while it is tuned grows without bound
(``glimpse predict``: 1.7 GB for a 10 s video, 5.7 GB for 100 s; ``make demo``, whose report
decodes videos after training in one process, was killed at 24 GB): the freed holes between
long-lived small blocks are kept but never fit the next request exactly. So glimpse tunes it only
*around batch loops* (``reusing_freed_memory``: ``train``'s epochs), and on leaving puts glibc's
thresholds back to their default values and returns the kept memory to the kernel
(``malloc_trim``). Loops that decode video as they go (``extract``, ``predict``, the report) use
``bounded_reuse``: the same tuning, plus a check after every batch that hands the kept memory
back (``malloc_trim``, which also releases free pages inside the heap) whenever the resident set
has grown past its working set by ``slack``: the faults of one batch now and then instead of every
batch, and memory flat in a video's length (``benchmarks/memory.py``, ``benchmarks/extract.py``
measure both). ``keep_freed_memory`` tunes it for the whole process, for a process that reads
only stored features (the re-test runner, the benchmark). ``GLIMPSE_MALLOC=default`` turns all
of it off.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt (malloc.h)
# never trim the heap's top by itself (mallopt(3): -1 disables trimming). The largest int,
# 2 GB, used before, let glibc hand back the top of the heap whenever more than 2 GB of it was
# free, which every validation pass left (its batches of 64 clips and their activations): a
# soft run's every validation then faulted ~600 MB in again (150k page faults an epoch)
NEVER_TRIM = -1
DEFAULT_THRESHOLD = 128 * 1024  # glibc's default for both (M_MMAP_THRESHOLD's starting value)
_whole_process = False
_shared_arena = False
_open: list[bool] = []  # the open reusing_freed_memory blocks: whether each is tuned


def _libc():
    if os.environ.get("GLIMPSE_MALLOC") == "default" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        for name in ("mallopt", "malloc_trim"):  # both must exist
            getattr(libc, name)
        return libc
    except (OSError, AttributeError):
        return None


def _set(mmap_threshold: int, trim_threshold: int) -> bool:
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for the rest of the process; True if it is tuned (now or before)."""
    global _whole_process
    if not _whole_process:
        _whole_process = _set(1 << 30, NEVER_TRIM)
    return _whole_process


def share_main_arena() -> bool:
    """Every thread started from now on shares the main thread's malloc arena (glibc's
    M_ARENA_MAX = 1), if this process has no other thread yet; True if so (now or before).
    ``import glimpse`` calls it. A thread's own arena grows in heaps of at most 64 MB that glibc
    unmaps as soon as they are free, so a thread whose blocks are larger (a CNN batch's
    activations: 67 MB for 32 x 32 x 128 x 128 floats) gets each one from a fresh ``mmap`` and
    faults it in again, whatever the thresholds (``features.extract.Lanes`` in threads of their
    own spent 18 of every 26 s in the kernel). A thread that already had an arena keeps it, and
    a new thread may be handed it, hence "no other arena yet" (threads that have not allocated,
    such as OpenBLAS's started by ``import numpy``, have none)."""
    global _shared_arena
    libc = _libc()
    if not _shared_arena and libc is not None and _arenas(libc) == 1:
        _shared_arena = bool(libc.mallopt(M_ARENA_MAX, 1))
    return _shared_arena


def _arenas(libc) -> int:
    """How many malloc arenas this process has (glibc's ``malloc_info``); 0 if unknown."""
    buf, size = ctypes.c_void_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    if not stream:
        return 0
    try:
        libc.malloc_info(0, ctypes.c_void_p(stream))
    finally:
        libc.fclose(ctypes.c_void_p(stream))
    text = ctypes.string_at(buf, size.value).decode(errors="replace")
    libc.free(buf)
    return text.count("<heap nr=")


@contextmanager
def reusing_freed_memory():
    """Keep freed memory for reuse inside the block (yields whether malloc is tuned); on leaving
    the outermost block, glibc's default thresholds come back and the kept memory is trimmed."""
    tuned = _whole_process or (_open[-1] if _open else _set(1 << 30, NEVER_TRIM))
    _open.append(tuned)
    try:
        yield tuned
    finally:
        _open.pop()
        if tuned and not _open and not _whole_process:
            _set(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD)
            _libc().malloc_trim(0)


def resident_bytes() -> int:
    """The process's resident set now (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_resident_bytes() -> int:
    """The process's own peak resident set (``VmHWM``; Linux, 0 where /proc is missing). Not
    ``getrusage``'s ``ru_maxrss``: Linux carries that over from the parent through fork and
    exec, so a child started by a large process reports at least the parent's size. The
    kernel updates VmHWM lazily, so it can trail the resident set now: the larger of the two."""
    try:
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024
    except (OSError, ValueError, IndexError, StopIteration):
        hwm = 0
    return max(hwm, resident_bytes())


@contextmanager
def bounded_reuse(slack: float = 0.05, warmup: int = 16) -> Iterator[Callable[[], bool]]:
    """``reusing_freed_memory`` for loops that also decode video: yields ``tick``, to call after
    each batch. The largest resident set over the first ``warmup`` batches is the working set
    (16: several short videos, with their short last batches, or 20 s of a long one; with 2 the
    working set was taken too early and extraction trimmed every third batch, 4.5 M faults for
    1,600 frames); a later tick that finds it more than ``slack`` above trims the kept memory
    (and returns True). If the live data itself has grown (a larger video), the working set is
    raised to what stays after the trim, so a loop never trims every batch."""
    with reusing_freed_memory() as tuned:
        state = {"ticks": 0, "base": 0}

        def tick() -> bool:
            if not tuned:
                return False
            rss = resident_bytes()
            state["ticks"] += 1
            if state["ticks"] <= warmup:
                state["base"] = max(state["base"], rss)
                return False
            if rss <= state["base"] * (1 + slack):
                return False
            _libc().malloc_trim(0)
            state["base"] = max(state["base"], resident_bytes())
            return True

        yield tick
