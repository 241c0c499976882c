import os
import platform
import subprocess
import sys

import pytest

CODE = "from glimpse.allocator import keep_freed_memory as k; print(k(), k())"


def _run(env_extra: dict) -> str:
    env = {**{k: v for k, v in os.environ.items() if k != "GLIMPSE_MALLOC"}, **env_extra}
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_malloc_is_tuned_once_and_can_be_turned_off():
    assert _run({}) == "True True"  # mallopt accepted both settings; a second call is a no-op
    assert _run({"GLIMPSE_MALLOC": "default"}) == "False False"


SCOPED = """
import numpy as np
from glimpse.allocator import reusing_freed_memory

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

def after_free():  # 200 MB written, then freed: how much of it the process still holds
    a = np.ones(200 * 2**20 // 8)
    before = rss_mb() - 200
    del a
    return round(rss_mb() - before)

out = [after_free()]
with reusing_freed_memory() as tuned:
    with reusing_freed_memory() as inner:
        pass
    out += [tuned, inner, after_free()]  # leaving the inner block keeps the tuning
base = rss_mb()
with reusing_freed_memory():
    after_free()
out += [round(rss_mb() - base)]  # leaving the outer block hands the kept memory back
print(*out)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_scoped_reuse_keeps_freed_memory_inside_and_returns_it_after():
    env = {k: v for k, v in os.environ.items() if k != "GLIMPSE_MALLOC"}
    freed, tuned, inner, kept, left = subprocess.run(
        [sys.executable, "-c", SCOPED], env=env, capture_output=True, text=True,
        check=True).stdout.split()
    assert int(freed) < 20  # glibc's default: a 200 MB block goes back on free
    assert tuned == inner == "True" and int(kept) > 180  # kept for the next batch
    assert int(left) < 20  # trimmed on leaving
    off = subprocess.run([sys.executable, "-c", SCOPED], env={**env, "GLIMPSE_MALLOC": "default"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert off[1] == off[2] == "False" and int(off[3]) < 20


BOUNDED = """
from glimpse.allocator import bounded_reuse, resident_bytes
import numpy as np

def churn(mb):  # a batch's activations: written, then freed
    a = np.ones(mb * 2**20 // 8)
    del a

MB = 2**20
with bounded_reuse(slack=0.05, warmup=2) as tick:
    churn(200); first = tick()
    churn(200); second = tick()
    base = resident_bytes()
    churn(200); steady = tick()  # the same batch again: reused, not faulted in again
    kept = (resident_bytes() - base) // MB
    churn(600)  # one batch far larger (a long video's last chunk, fragmentation): kept ...
    grown = (resident_bytes() - base) // MB
    trimmed = tick()  # ... past the slack, so handed back
    after = (resident_bytes() - base) // MB
    churn(200); again = tick()
print(first, second, steady, kept, grown, trimmed, after, again)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_bounded_reuse_keeps_a_batch_and_hands_back_growth():
    env = {k: v for k, v in os.environ.items() if k != "GLIMPSE_MALLOC"}
    first, second, steady, kept, grown, trimmed, after, again = subprocess.run(
        [sys.executable, "-c", BOUNDED], env=env, capture_output=True, text=True,
        check=True).stdout.split()
    assert first == second == steady == "False" and abs(int(kept)) < 20  # a batch is reused
    assert int(grown) > 350 and trimmed == "True"  # growth past the slack is handed back ...
    assert int(after) < -150  # ... with the kept batch (malloc_trim returns all free pages)
    assert again == "False"  # the next batch fits the working set again: no trim
    off = subprocess.run([sys.executable, "-c", BOUNDED], env={**env, "GLIMPSE_MALLOC": "default"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert off[5] == "False"  # off: nothing is kept, nothing trimmed


def test_peak_resident_is_the_process_own_not_the_parents():
    """A child started by a process holding 300 MB: ru_maxrss reports at least the parent's
    size (carried through fork and exec), peak_resident_bytes only the child's own."""
    code = """
import resource
from glimpse.allocator import peak_resident_bytes, resident_bytes
assert peak_resident_bytes() >= resident_bytes() > 0
print(peak_resident_bytes() // 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    held = bytearray(300 * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # touched: resident
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    own, inherited = (int(v) for v in r.stdout.split())
    assert inherited >= 300 and own < 200, (own, inherited)


ARENAS = """
import ctypes
import threading
{first}
from glimpse.allocator import _arenas, reusing_freed_memory, share_main_arena

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p

def batches():  # a CNN batch's activations: blocks above a thread heap's 64 MB, written
    for _ in range(5):
        block = libc.malloc(80 * 2**20)
        ctypes.memset(block, 1, 80 * 2**20)
        libc.free(ctypes.c_void_p(block))

with reusing_freed_memory():
    before = int(open("/proc/self/stat").read().split()[9])  # minor faults
    t = threading.Thread(target=batches)
    t.start()
    t.join()
    faults = int(open("/proc/self/stat").read().split()[9]) - before
print(share_main_arena(), _arenas(libc), faults)
"""
# a thread that allocates before glimpse is imported: it has an arena of its own
EARLY_THREAD = ("t0 = threading.Thread(target=lambda: [bytearray(10**5) for _ in range(9)])\n"
                "t0.start(); t0.join()")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas only")
def test_threads_share_the_main_arena_and_reuse_large_blocks():
    """import glimpse makes later threads use the main thread's arena, where the raised
    thresholds keep an 80 MB block for reuse: 5 of them fault its 20 k pages once, not 5 times
    over; a process whose thread had an arena of its own first is left as it is (and says so)."""
    env = {k: v for k, v in os.environ.items() if k != "GLIMPSE_MALLOC"}

    def run(first: str, extra: dict) -> list:
        return subprocess.run([sys.executable, "-c", ARENAS.format(first=first)],
                              env={**env, **extra}, capture_output=True, text=True,
                              check=True).stdout.split()

    shared, arenas, faults = run("", {})
    assert shared == "True" and arenas == "1" and int(faults) < 30_000
    shared, arenas, faults = run(EARLY_THREAD, {})
    assert shared == "False" and int(arenas) == 2 and int(faults) > 90_000  # 5 x 20 k pages
    shared, arenas, faults = run("", {"GLIMPSE_MALLOC": "default"})  # glibc as it is
    assert shared == "False" and int(arenas) == 2 and int(faults) > 90_000
