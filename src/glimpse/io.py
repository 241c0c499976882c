"""Files written whole or not at all, and file digests.

Every writer glimpse has writes to a temporary name beside the target, flushes it to disk and
renames it over the target, so a killed process never leaves a half-written file that a later
run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def temporary_beside(path: Path) -> Path:
    """A temporary name in ``path``'s folder, private to this process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_synced(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, then rename it over ``path`` (atomic on one filesystem)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj) -> None:
    path = Path(path)
    tmp = temporary_beside(path)
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    replace_synced(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = temporary_beside(path)
    tmp.write_text(text)
    replace_synced(tmp, path)


def file_digest(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
