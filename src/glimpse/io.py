"""Files written whole or not at all, and file digests.

Every writer glimpse has writes to a temporary name beside the target, flushes it to disk and
renames it over the target, so a killed process never leaves a half-written file that a later
run would trust.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

from glimpse import GlimpseError


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


def read_text(path: Path, *, what: str = "a text file") -> str:
    """``path``'s text; a file that is not UTF-8 is one GlimpseError naming it. A missing file
    or a refused read stays an OSError (the CLI's one line for those)."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise GlimpseError(f"{path}: not UTF-8 text (byte {e.start}); {what} was expected") \
            from None


def parse_json(text: str, path: Path, *, what: str = "a JSON file"):
    """``text`` (read from ``path``) as JSON; invalid JSON is one GlimpseError naming the file
    and where."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise GlimpseError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} "
                           f"({e.msg}); {what} was expected") from None


def read_json(path: Path, *, keys: tuple = (), what: str = "a JSON file") -> dict:
    """A JSON object from ``path``, checked: a file that is not UTF-8, not JSON, not an object,
    or lacks one of ``keys`` is one GlimpseError naming the file (never a traceback)."""
    path = Path(path)
    data = parse_json(read_text(path, what=what), path, what=what)
    if not isinstance(data, dict):
        raise GlimpseError(f"{path}: {what} is a JSON object, not a {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise GlimpseError(f"{path}: {what} lacks {', '.join(missing)}")
    return data


def read_lines(path: Path, *, what: str = "a text file",
               comments: bool = True) -> list[tuple[int, str]]:
    """(line number, stripped line) of ``path``'s non-blank lines (and, with ``comments``, not
    ``#`` comments), CRLF or LF, checked as ``read_json`` checks JSON: a file that is not UTF-8
    or holds NUL bytes (a binary file given as a list) is one GlimpseError naming it."""
    path = Path(path)
    text = read_text(path, what=what)
    if "\0" in text:
        raise GlimpseError(f"{path}: a binary file (NUL bytes at line "
                           f"{text.count(chr(10), 0, text.index(chr(0))) + 1}); {what} was "
                           f"expected")
    return [(n, ln) for n, ln in ((n, raw.strip()) for n, raw in enumerate(text.splitlines(), 1))
            if ln and not (comments and ln.startswith("#"))]


def read_csv_rows(path: Path, *, columns: tuple = (), what: str = "a CSV file") -> list[dict]:
    """The rows of a CSV file with a header, checked as ``read_json`` checks JSON: not UTF-8,
    not CSV, or without one of ``columns`` is one GlimpseError naming the file."""
    path = Path(path)
    text = read_text(path, what=what)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        header = reader.fieldnames or []
    except csv.Error as e:
        raise GlimpseError(f"{path}: not valid CSV ({e}); {what} was expected") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise GlimpseError(f"{path}: {what} lacks the column(s) {', '.join(missing)}")
    if any(None in row or None in row.values() for row in rows):
        raise GlimpseError(f"{path}: a row has more or fewer fields than the header; {what} "
                           f"was expected")
    return rows
