"""The on-disk feature store. This docstring is the format specification (format 2).

Layout of a store folder::

    STORE/
      manifest.json            what every entry holds (written once, atomically)
      entries/<id>/            one folder per video, created by an atomic rename
        <stream>.npy           one array per named stream, first axis = the T_v sampled frames:
          rgb.npy              float16 (T_v, K, K, D): the backbone's feature cube of each frame
          rgb_pooled.npy       float16 (T_v, D): its spatial mean (only with --pooled)
        masks.npy              float16 (T_v, K, K): fraction of each cell covered by the actor
                               (only where the dataset ships actor masks)
        meta.json              {"path", "label", "label_index", "group", "times": [s, ...],
                                "frames": T_v, "source_frames": [i, ...],
                                "arrays": {name: {"shape", "dtype", "sha256"}}}  (sha256 of the
                                array's data bytes, after the .npy header; ``glimpse store verify``)
        <stream>@<crop>.npy    the same stream of one spatial test crop (``extract --crops N``,
        masks@<crop>.npy       ``glimpse.features.crops``), added to an existing entry; its
                               meta.json then lists them under ``crops`` (names) and ``arrays``
      failures.json            videos the last run could not extract, with reasons
                               (failures-shard-I-of-N.json for ``extract --shard I/N``)

``manifest.json`` records ``format`` (2), ``feature`` (what all streams share: backbone,
input_size, weights_digest, fps, dtype), ``streams`` (name -> its own spec: ``layer``,
``channels`` and, for a (T, K, K, C) cube, ``grid`` K; a pooled vector says ``pooled``),
``labels`` (the dataset's sorted class names; ``label_index`` indexes this list) and ``source``
(the dataset's root folder at extraction, against which each entry's ``path`` is relative),
and once crops were extracted ``crops`` (their layout: count, size, decoded side, names and
windows; one layout a store).

Format 1 stores (``cube.npy`` and ``pooled.npy``, one flat ``feature`` spec) are still read:
they appear as streams ``rgb`` and ``rgb_pooled``.

``<id>`` is the video's path relative to the dataset root with ``/`` replaced by ``__`` and the
extension dropped. An entry exists only once all its files are complete: arrays are streamed
chunk by chunk into ``entries/.tmp-<id>-<pid>/`` (an ``.npy`` whose header is rewritten with the
final length when the video ends, so memory does not grow with the video's length), then the
folder is renamed into place, so a run killed at any moment leaves at most a ``.tmp-*`` folder,
which nothing reads and the next run deletes. A writer holds an advisory lock on
``entries/.claims/<id>`` (``fcntl.flock``, released by the OS when the process dies) from
before its temporary folder exists until the entry is in place: a second process extracting
into the same store skips the entries another live process is writing, and deletes a
temporary folder only when nobody holds its claim. The ``.npy`` files are memory-mapped on read, so
reading frames [s, s + T) of one video touches only those frames, and a store can be read from
several DataLoader worker processes at once.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import queue
import shutil
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.io import read_json, write_json_atomic

FORMAT_VERSION = 2
ENTRY_KEYS = ("label", "frames", "times")  # what every entry's meta.json holds
_V1_FILES = {"rgb": "cube", "rgb_pooled": "pooled"}  # format 1's file names for the streams
_V1_STREAM_KEYS = ("layer", "channels", "grid", "pooled")


MAX_ID_BYTES = 200  # an entry's folder name, and its temporary names, stay under 255 bytes


def entry_id(relpath: str) -> str:
    """The entry folder's name for a video: its relative path without the extension, '/' as
    '__'; a name over MAX_ID_BYTES (a 250-character class folder is legal on Linux) keeps its
    first bytes and adds a digest of the whole, stable and distinct (the entry's meta.json keeps
    the full path)."""
    stem = relpath.rsplit(".", 1)[0] if "." in Path(relpath).name else relpath
    eid = stem.replace("\\", "/").replace("/", "__")
    raw = eid.encode("utf-8")
    if len(raw) <= MAX_ID_BYTES:
        return eid
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[:MAX_ID_BYTES - 17].decode("utf-8", errors="ignore")  # whole characters only
    return f"{head}~{digest}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_cached(fd: int) -> None:
    """Ask the kernel to drop a file's pages from the page cache (the written-back ones; those
    still dirty are sent to disk without waiting, and go at the next call). Extraction writes
    gigabytes once; kept cached, every new page costs the kernel a fresh allocation (system
    time was 11-15% of extraction's wall on this machine, 3-4% with the pages dropped) and pushes
    out what the user had cached. Training reads the store back from disk at disk speed."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class NpyAppender:
    """An ``.npy`` file written a chunk at a time along its first axis.

    The header is written first with room to spare and rewritten with the final length on
    ``close``, so the file is a plain ``.npy`` that ``np.load(mmap_mode="r")`` reads.
    """

    HEADER = 128  # bytes, a multiple of 64 as the format asks
    DROP_EVERY = 16 << 20  # bytes appended between two page-cache drops (see _drop_cached)

    def __init__(self, path: Path, dtype=np.float16):
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.tail: tuple | None = None
        self.rows = 0
        self.sha256 = hashlib.sha256()  # of the data bytes, as they are written
        self._since_drop = 0  # bytes appended since the last page-cache drop
        self._f = open(self.path, "wb")
        self._f.write(b"\0" * self.HEADER)

    def _header(self) -> bytes:
        text = (f"{{'descr': {np.lib.format.dtype_to_descr(self.dtype)!r}, 'fortran_order': False, "
                f"'shape': {(self.rows, *self.tail)!r}, }}")
        room = self.HEADER - 10
        if len(text) >= room:
            raise ValueError(f"shape {(self.rows, *self.tail)} does not fit the npy header")
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", room) + (text.ljust(room - 1) + "\n").encode()

    def append(self, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if self.tail is None:
            self.tail = arr.shape[1:]
        elif arr.shape[1:] != self.tail:
            raise ValueError(f"{self.path.name}: chunk of shape {arr.shape[1:]} after {self.tail}")
        data = arr.reshape(-1).view(np.uint8)  # the bytes, not a copy of them
        self._f.write(data)
        self.sha256.update(data)
        self.rows += len(arr)
        self._since_drop += data.nbytes
        if self._since_drop >= self.DROP_EVERY:  # a long video: drop as it goes, not at the end
            self._f.flush()
            _drop_cached(self._f.fileno())
            self._since_drop = 0

    def close(self) -> None:
        if self.tail is None:
            raise ValueError(f"{self.path.name}: nothing was appended")
        self._f.seek(0)
        self._f.write(self._header())
        self._f.flush()
        os.fsync(self._f.fileno())
        _drop_cached(self._f.fileno())
        self._f.close()

    def discard(self) -> None:
        self._f.close()

    def record(self) -> dict:
        """What meta.json keeps of this array, for ``verify``."""
        return {"shape": [self.rows, *self.tail], "dtype": self.dtype.str,
                "sha256": self.sha256.hexdigest()}


def check_array(path: Path, record: dict | None, frames: int) -> str | None:
    """None if the .npy at ``path`` is whole (its shape, and its data's sha256 where ``record``
    gives one), else what is wrong."""
    if not path.exists():
        return "missing"
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            h = hashlib.sha256()
            n = 0
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                n += len(chunk)
    except (ValueError, OSError, SyntaxError) as e:
        return f"unreadable ({e.__class__.__name__}: {e})"
    want = int(np.prod(shape)) * dtype.itemsize
    if n != want:
        return f"truncated: {n} data bytes, the header's shape {tuple(shape)} needs {want}"
    if shape[0] != frames:
        return f"{shape[0]} frames, meta.json says {frames}"
    if record is not None:
        if list(shape) != list(record["shape"]):
            return f"shape {tuple(shape)}, meta.json says {tuple(record['shape'])}"
        if h.hexdigest() != record["sha256"]:
            return "checksum mismatch (the data changed after it was written)"
    return None


class Claim:
    """An exclusive advisory lock on one entry (``FeatureStore.claim``); the OS releases it when
    the process dies, so a killed writer never blocks the next."""

    def __init__(self, fd: int):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def try_lock(path: Path, *, wait: bool = False) -> int | None:
    """An exclusive flock on ``path`` (created if missing): its descriptor, or None if another
    live process holds it (``wait``: block until it is free instead)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return fd


class EntryWriter:
    """Writes one video's entry: ``append`` chunks of each stream (and of ``masks``) as they are
    computed, then ``commit(meta)``; on an exception inside ``with`` nothing is left behind.
    It holds the entry's claim (taken here unless given) until it commits or aborts."""

    def __init__(self, store: FeatureStore, eid: str, claim: Claim | None = None):
        self.store, self.eid = store, eid
        self.claim = claim if claim is not None else store.claim(eid, wait=True)
        self.tmp = store.entries_dir / f".tmp-{eid}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.files: dict[str, NpyAppender] = {}

    def append(self, name: str, arr: np.ndarray) -> None:
        if name not in self.files:
            self.files[name] = NpyAppender(self.tmp / f"{name}.npy")
        self.files[name].append(arr)

    def commit(self, meta: dict) -> None:
        T = meta["frames"]
        for name, f in self.files.items():
            if f.rows != T:
                raise ValueError(f"meta says {T} frames, {name} has {f.rows}")
            f.close()
        if len(meta["times"]) != T:
            raise ValueError(f"meta says {T} frames but has {len(meta['times'])} times")
        meta = {**meta, "arrays": {name: f.record() for name, f in self.files.items()}}
        write_json_atomic(self.tmp / "meta.json", meta)
        final = self.store.entries_dir / self.eid
        if final.exists():
            shutil.rmtree(final)
        os.rename(self.tmp, final)
        _fsync_dir(self.store.entries_dir)
        self.files = {}
        self.claim.release()

    def commit_crops(self, names: list[str]) -> None:
        """Add the crop arrays written here to the committed entry: each file moved into its
        folder, then its meta.json rewritten (atomically) to list them; a crash in between
        leaves files the meta does not name, which the next extraction writes again."""
        final = self.store.entries_dir / self.eid
        meta = read_json(final / "meta.json", keys=("frames",), what="a store entry's meta.json")
        T = meta["frames"]
        for name, f in self.files.items():
            if f.rows != T:
                raise ValueError(f"the entry has {T} frames, {name} has {f.rows}")
            f.close()
        for name in self.files:
            os.replace(self.tmp / f"{name}.npy", final / f"{name}.npy")
        _fsync_dir(final)
        meta["arrays"] = {**meta.get("arrays", {}),
                          **{name: f.record() for name, f in self.files.items()}}
        meta["crops"] = list(names)
        write_json_atomic(final / "meta.json", meta)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.files = {}
        self.claim.release()

    def abort(self) -> None:
        for f in self.files.values():
            f.discard()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.claim.release()

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is not None or self.tmp.exists():
            self.abort()
        return False


class WriteBehind:
    """The store's file work (chunks written and checksummed, actor-mask grids counted, entries
    committed) in one background thread, job after job in the order given, so the CNN does not
    wait on it (on the main thread that work was ~5% of extraction's wall by cProfile, fsync
    waits included; docs/benchmarks.md has what moving it gained).

    ``behind(fn, *args, undo=None)`` queues ``fn(*args)``; at most ``depth`` jobs wait (each holds
    one batch's arrays, so memory stays bounded; a slow disk makes the caller wait). The first
    job that fails is raised in the caller's thread at the next call or at ``wait``; its
    ``undo`` (an entry's abort, for a commit) runs, and every job queued after it (that call's
    own included) is not run but undone, so nothing half-written is committed or left behind."""

    def __init__(self, depth: int = 4):
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None  # the first failure; the jobs after it skip
        self._raised = False
        self._thread = threading.Thread(target=self._run, name="glimpse-store-writer",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, undo = job
            try:
                if self._error is None:
                    try:
                        fn(*args)
                        continue
                    except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
                        self._error = e
                if undo is not None:  # it failed, or a job before it did
                    try:
                        undo()
                    except Exception:  # noqa: BLE001, S110 - the first failure is the one to see
                        pass
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def __call__(self, fn: Callable, *args, undo: Callable[[], None] | None = None) -> None:
        self._jobs.put((fn, args, undo))  # queued even after a failure: then it is undone
        self._raise()

    def wait(self) -> None:
        """Every queued job done (or undone); raises the first failure not raised yet."""
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Waits for the queued jobs and stops the thread (failures are for ``wait``)."""
        self._jobs.put(None)
        self._thread.join()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *_) -> bool:
        self.close()
        return False


def _read_header(f) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of the C-order .npy open as ``f``, left at its data's first byte."""
    major, _ = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if major == 1 else \
        np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if fortran or dtype.hasobject:
        raise ValueError("not a C-order array of numbers")
    return tuple(shape), dtype


def _pread_into(fd: int, out: np.ndarray, offset: int) -> None:
    """Fill the contiguous ``out`` with the file's bytes from ``offset`` (one read where the
    kernel gives them at once); a file that ends first raises EOFError."""
    if out.nbytes == 0:
        return
    view, done = memoryview(out).cast("B"), 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise EOFError("cut short")
        done += got


def read_rows(path: Path, rows: np.ndarray | slice) -> np.ndarray:
    """Rows (first-axis indices: any order, repeats allowed; or a slice) of the .npy at
    ``path``, read into an array of their own: each run of consecutive rows one pread of the
    page cache, no memory map (a map's copy took a page fault per 4 KB: twice the time of the
    read, benchmarks/store_read.py); a damaged file raises ValueError, EOFError or
    OSError."""
    with open(path, "rb", buffering=0) as f:
        shape, dtype = _read_header(f)
        start, row = f.tell(), int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        if os.fstat(f.fileno()).st_size < start + shape[0] * row:
            raise EOFError("cut short: the file ends before its header's shape")
        if isinstance(rows, slice):
            first, stop, step = rows.indices(shape[0])
            assert step == 1, "a slice of rows is read with step 1"
            out = np.empty((max(stop - first, 0),) + shape[1:], dtype)
            _pread_into(f.fileno(), out, start + first * row)
            return out
        index = np.arange(shape[0])[np.asarray(rows)]  # numpy's own index rules and errors
        idx = index.ravel()
        out = np.empty((len(idx),) + shape[1:], dtype)
        j = 0
        while j < len(idx):  # a run of consecutive rows: one read
            k = j + 1
            while k < len(idx) and idx[k] == idx[k - 1] + 1:
                k += 1
            _pread_into(f.fileno(), out[j:k], start + int(idx[j]) * row)
            j = k
        return out.reshape(index.shape + shape[1:])  # a 0-d index: one row, as numpy gives


@dataclass
class Entry:
    """One video's features; a stream's frames are read from disk when asked for, only
    those."""

    id: str
    folder: Path
    meta: dict
    format: int = FORMAT_VERSION
    crop: str | None = None  # a view of one spatial test crop's arrays (``at_crop``)

    @property
    def crops(self) -> list[str]:
        """The spatial test crops stored for this video (``extract --crops``), if any."""
        return list(self.meta.get("crops", []))

    def at_crop(self, crop: str) -> Entry:
        """This video seen through one stored crop: ``stream`` and ``masks`` read
        ``<name>@<crop>.npy``."""
        if crop not in self.crops:
            raise GlimpseError(f"entry '{self.id}' has no crop '{crop}' (it has "
                               f"{', '.join(self.crops) or 'none'}: extract --crops first)")
        return replace(self, crop=crop)

    @property
    def label(self) -> str:
        return self.meta["label"]

    @property
    def label_index(self) -> int:
        return self.meta["label_index"]

    @property
    def label_indices(self) -> list[int]:
        """Every label of the video (a multi-label store); else its one label."""
        return self.meta.get("label_indices", [self.meta["label_index"]])

    @property
    def group(self):
        return self.meta.get("group")

    @property
    def num_frames(self) -> int:
        return self.meta["frames"]

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.meta["times"])

    def _path(self, name: str) -> Path:
        if self.format == 1:
            name = _V1_FILES.get(name, name)
        if self.crop is not None:
            name = f"{name}@{self.crop}"
        return self.folder / f"{name}.npy"

    def has(self, name: str) -> bool:
        return self._path(name).exists()

    def stream(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) of a stream, e.g. rgb float16 (stop - start, K, K, D); only these
        frames are read from disk."""
        return self._read(name, slice(start, stop))

    def stream_at(self, name: str, frames: np.ndarray) -> np.ndarray:
        """The given frames (indices, any order, repeats allowed) of a stream; only these are
        read from disk."""
        return self._read(name, np.asarray(frames))

    def _read(self, name: str, rows) -> np.ndarray:
        """``read_rows`` of the stream; a missing or damaged file is one line."""
        p = self._path(name)
        if not p.exists():
            raise GlimpseError(f"entry '{self.id}' has no stream '{name}' ({p} is missing)")
        try:
            return read_rows(p, rows)
        except (ValueError, EOFError, SyntaxError) as e:  # cut short, or not an array at all
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise GlimpseError(f"{p}: damaged ({why}); 'glimpse store verify "
                               f"{self.folder.parent.parent}' lists every damaged entry, and "
                               f"extracting again rewrites them") from None

    def masks(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """float16 (stop - start, K, K) actor coverage, or None where the dataset has no masks."""
        return self.stream("masks", start, stop) if self.has_masks else None

    @property
    def has_masks(self) -> bool:
        return self.has("masks")


def _upgrade_v1(manifest: dict) -> dict:
    """A format-1 manifest seen as format 2: one flat spec -> shared feature + streams."""
    flat = manifest["feature"]
    feature = {k: v for k, v in flat.items() if k not in _V1_STREAM_KEYS}
    streams = {"rgb": {"layer": flat["layer"], "channels": flat["channels"], "grid": flat["grid"]}}
    if flat.get("pooled"):
        streams["rgb_pooled"] = {"layer": flat["layer"], "channels": flat["channels"],
                                 "pooled": "spatial mean"}
    return {**manifest, "feature": feature, "streams": streams}


class FeatureStore:
    """Read and write a store folder; see the module docstring for the format."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.entries_dir = self.root / "entries"
        self._manifest = None

    # -- manifest -----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            if not self.manifest_path.exists():
                raise GlimpseError(f"{self.root} is not a feature store (no manifest.json); "
                                   f"make one with 'glimpse extract DATA {self.root}'")
            m = read_json(self.manifest_path, keys=("format", "feature", "labels"),
                          what="a feature store's manifest")
            if m.get("format") == 1:
                m = _upgrade_v1(m)
            elif m.get("format") != FORMAT_VERSION:
                raise GlimpseError(f"{self.root}: store format {m.get('format')} is not one this "
                                   f"glimpse reads (1 or {FORMAT_VERSION}); upgrade glimpse")
            if not isinstance(m.get("streams"), dict) or not isinstance(m["feature"], dict) \
                    or not isinstance(m["labels"], list):
                raise GlimpseError(f"{self.manifest_path}: a feature store's manifest has "
                                   f"'feature' and 'streams' mappings and a 'labels' list")
            self._manifest = m
        return self._manifest

    @property
    def feature(self) -> dict:
        """What all streams share: backbone, input_size, weights_digest, fps, dtype."""
        return self.manifest["feature"]

    @property
    def streams(self) -> dict:
        """Stream name -> its spec (layer, channels, grid or pooled)."""
        return self.manifest["streams"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    @property
    def multilabel(self) -> bool:
        """Videos may carry several labels (each entry's ``label_indices``)."""
        return bool(self.manifest.get("multilabel"))

    @property
    def source(self) -> Path | None:
        s = self.manifest.get("source")
        return Path(s) if s else None

    def check_inputs(self, feature: dict, inputs: dict, what: str) -> None:
        """Refuse a store whose features differ from ``feature`` or lack a stream of ``inputs``
        (stream name -> spec) with the same spec: ``what`` was made on other features."""
        if self.feature != feature:
            diff = ", ".join(f"{k}: {self.feature.get(k)} here, {v} for {what}"
                             for k, v in feature.items() if self.feature.get(k) != v)
            raise GlimpseError(f"{self.root} holds other features than {what} was trained on "
                               f"({diff})")
        for name, spec in inputs.items():
            if name not in self.streams:
                raise GlimpseError(f"{self.root} has no stream '{name}', which {what} reads "
                                   f"(it has {', '.join(self.streams)})")
            if self.streams[name] != spec:
                raise GlimpseError(f"{self.root}'s stream '{name}' is {self.streams[name]}, "
                                   f"not {spec} as for {what}")

    def create_or_check(self, feature: dict, streams: dict, labels: list[str],
                        source: str | None = None, multilabel: bool = False) -> None:
        """Start a store, or check that an existing one holds the same kind of features.
        ``source`` (the dataset's root folder) is recorded so reports can find the videos;
        ``multilabel``: videos may carry several labels (meta.json ``label_indices``)."""
        if self.root.exists() and not self.root.is_dir():
            raise GlimpseError(f"{self.root} is a file, not a folder: give the store a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.entries_dir.mkdir(exist_ok=True)
        want = {"format": FORMAT_VERSION, "feature": feature, "streams": streams,
                "labels": list(labels), "source": source}
        if multilabel:
            want["multilabel"] = True
        if self.manifest_path.exists():
            have = self.manifest
            if have["feature"] != feature or have["streams"] != streams:
                old = {**have["feature"], **{f"streams.{k}": v for k, v in have["streams"].items()}}
                new = {**feature, **{f"streams.{k}": v for k, v in streams.items()}}
                diff = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                        if old.get(k) != new.get(k)}
                raise GlimpseError(f"{self.root} already holds other features "
                                   f"({', '.join(f'{k}: {a} != {b}' for k, (a, b) in diff.items())});"
                                   f" extract into a new folder")
            if have["labels"] != list(labels):
                raise GlimpseError(f"{self.root} was extracted with other classes "
                                   f"({have['labels']}); extract into a new folder")
        else:
            write_json_atomic(self.manifest_path, want)
            self._manifest = want

    @property
    def crop_layout(self) -> dict | None:
        """The layout of the spatial test crops extracted into this store, if any."""
        return self.manifest.get("crops")

    def set_crop_layout(self, layout: dict) -> None:
        """Record the crops' layout; a store keeps one (another is refused)."""
        have = self.crop_layout
        if have is not None and have != layout:
            raise GlimpseError(f"{self.root} holds crops of another layout ({have['count']} crops "
                               f"of {have['size']} from {have['decoded_side']}); extract these "
                               f"into another store")
        if have is None:
            self._manifest = {**self.manifest, "crops": layout}
            write_json_atomic(self.manifest_path, self._manifest)

    def clean_stale(self, eids=None) -> None:
        """Delete the temporary folders a killed run left (never trusted), of every entry or of
        ``eids``: only where nobody holds the entry's claim, so the folders another live process
        is writing stay."""
        patterns = [".tmp-*"] if eids is None else [f".tmp-{eid}-*" for eid in eids]
        for pattern in patterns:
            for stale in self.entries_dir.glob(pattern):
                claim = self.claim(stale.name[len(".tmp-"):].rsplit("-", 1)[0])
                if claim is not None:
                    shutil.rmtree(stale, ignore_errors=True)
                    claim.release()

    def claim(self, eid: str, *, wait: bool = False) -> Claim | None:
        """The entry's lock, or None if another live process holds it (``wait``: block until
        it is free)."""
        folder = self.entries_dir / ".claims"
        folder.mkdir(parents=True, exist_ok=True)
        fd = try_lock(folder / eid, wait=wait)
        return None if fd is None else Claim(fd)

    # -- entries ------------------------------------------------------------------------------
    def has(self, eid: str) -> bool:
        return (self.entries_dir / eid / "meta.json").exists()

    def writer(self, eid: str, claim: Claim | None = None) -> EntryWriter:
        """``with store.writer(eid) as w: w.append("rgb", chunk); ...; w.commit(meta)``; holds
        ``claim`` (or waits for the entry's) while it writes."""
        return EntryWriter(self, eid, claim)

    def write_entry(self, eid: str, meta: dict, streams: dict[str, np.ndarray], *,
                    masks: np.ndarray | None = None) -> None:
        """Write one video's entry from whole arrays (tests and small tools)."""
        with self.writer(eid) as w:
            for name, arr in streams.items():
                w.append(name, arr)
            if masks is not None:
                w.append("masks", masks)
            w.commit(meta)

    def ids(self) -> list[str]:
        if not self.entries_dir.exists():
            return []
        return sorted(p.name for p in self.entries_dir.iterdir()
                      if not p.name.startswith(".") and (p / "meta.json").exists())

    def entry(self, eid: str) -> Entry:
        folder = self.entries_dir / eid
        if not (folder / "meta.json").is_file():
            raise GlimpseError(f"{self.root} has no entry '{eid}'")
        meta = read_json(folder / "meta.json", keys=ENTRY_KEYS, what="a store entry's meta.json")
        return Entry(eid, folder, meta, self.manifest["format"])

    def entries(self) -> list[Entry]:
        return [self.entry(i) for i in self.ids()]

    def __len__(self) -> int:
        return len(self.ids())

    def merge_from(self, other: FeatureStore) -> tuple[int, int]:
        """Copy the entries of ``other`` (same features, streams and labels) that this store
        lacks, each atomically; an entry both hold must be identical. -> (copied, already had)."""
        if (other.feature, other.streams, other.labels) != (self.feature, self.streams, self.labels):
            raise GlimpseError(f"{other.root} holds other features, streams or classes than "
                               f"{self.root}; only stores extracted the same way can be merged")
        copied = had = 0
        for eid in other.ids():
            theirs = other.entry(eid)
            if self.has(eid):
                mine = self.entry(eid).meta
                differ = sorted(k for k in set(mine) | set(theirs.meta)
                                if k != "crops" and mine.get(k) != theirs.meta.get(k))
                if differ:  # the arrays, the label(s), the split, the path, the times, ...
                    raise GlimpseError(f"entry '{eid}' differs between {self.root} and "
                                       f"{other.root} (in {', '.join(differ)}); an entry both "
                                       f"hold must be identical: verify both and re-extract it")
                had += 1
                continue
            claim = self.claim(eid, wait=True)
            try:
                if self.has(eid):  # another process put it in place meanwhile
                    had += 1
                    continue
                tmp = self.entries_dir / f".tmp-{eid}-{os.getpid()}"
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(theirs.folder, tmp)
                os.rename(tmp, self.entries_dir / eid)
                copied += 1
            finally:
                claim.release()
        _fsync_dir(self.entries_dir)
        return copied, had

    def verify(self, expected: list[str] | None = None) -> dict:
        """Check every entry is whole: each array's header, length and checksum, and the streams
        of the manifest present. ``expected``: the entry ids the dataset should give (None: no
        completeness check). -> {"ok": [ids], "corrupt": {id: reason}, "missing": [ids],
        "unexpected": [ids], "unchecked": [ids without checksums (older entries)]}."""
        ids = self.ids()
        report = {"ok": [], "corrupt": {}, "missing": [], "unexpected": [], "unchecked": []}
        for eid in ids:
            try:
                e = self.entry(eid)
            except (GlimpseError, OSError) as err:
                report["corrupt"][eid] = f"meta.json unreadable ({err})"
                continue
            records = e.meta.get("arrays")
            names = set(self.streams) | ({"masks"} if e.has_masks else set()) | set(records or {})
            problems = [f"{n}: {why}" for n in sorted(names)
                        if (why := check_array(e._path(n), (records or {}).get(n),
                                               e.num_frames)) is not None]
            if problems:
                report["corrupt"][eid] = "; ".join(problems)
            else:
                report["ok"].append(eid)
                if records is None:
                    report["unchecked"].append(eid)
        if expected is not None:
            have = set(ids)
            report["missing"] = sorted(set(expected) - have)
            report["unexpected"] = sorted(have - set(expected))
        return report
