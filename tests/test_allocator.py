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
