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
