"""The on-disk feature store. This docstring is the format specification.

Layout of a store folder::

    STORE/
      manifest.json            what every entry holds (written once, atomically)
      entries/<id>/            one folder per video, created by an atomic rename
        cube.npy               float16 (T_v, K, K, D): the feature cube of each sampled frame
        pooled.npy             float16 (T_v, D): spatial mean of the cube (only with --pooled)
        masks.npy              float16 (T_v, K, K): fraction of each cell covered by the actor
                               (only where the dataset ships actor masks)
        meta.json              {"path", "label", "label_index", "group", "times": [s, ...],
                                "frames": T_v, "source_frames": [i, ...]}
      failures.json            videos the last run could not extract, with reasons

``manifest.json`` records ``format`` (the version of this spec), ``feature`` (backbone, layer,
input_size, channels, weights_digest, fps, dtype, grid K, pooled), ``labels`` (the dataset's
sorted class names; ``label_index`` indexes this list) and ``source`` (the dataset's root folder
at extraction, against which each entry's ``path`` is relative).

``<id>`` is the video's path relative to the dataset root with ``/`` replaced by ``__`` and the
extension dropped. An entry exists only once all its files are complete: files are written into
``entries/.tmp-<id>-<pid>/`` and the folder is renamed into place, so a run killed at any moment
leaves at most a ``.tmp-*`` folder, which nothing reads and the next run deletes. The ``.npy``
files are memory-mapped on read, so reading frames [s, s + T) of one video touches only those
frames, and a store can be read from several DataLoader worker processes at once.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glimpse import GlimpseError

FORMAT_VERSION = 1


def entry_id(relpath: str) -> str:
    stem = relpath.rsplit(".", 1)[0] if "." in Path(relpath).name else relpath
    return stem.replace("\\", "/").replace("/", "__")


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class Entry:
    """One video's features; arrays are memory-mapped and read lazily."""

    id: str
    folder: Path
    meta: dict

    @property
    def label(self) -> str:
        return self.meta["label"]

    @property
    def label_index(self) -> int:
        return self.meta["label_index"]

    @property
    def group(self):
        return self.meta.get("group")

    @property
    def num_frames(self) -> int:
        return self.meta["frames"]

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.meta["times"])

    def _open(self, name: str):
        p = self.folder / f"{name}.npy"
        return np.load(p, mmap_mode="r") if p.exists() else None

    def cube(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """float16 (stop - start, K, K, D); only these frames are read from disk."""
        return np.array(self._open("cube")[start:stop])

    def masks(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        m = self._open("masks")
        return None if m is None else np.array(m[start:stop])

    def pooled(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        p = self._open("pooled")
        return None if p is None else np.array(p[start:stop])

    @property
    def has_masks(self) -> bool:
        return (self.folder / "masks.npy").exists()


class ArrayEntry(Entry):
    """An Entry held in memory (``predict`` on a new video): the same reading interface."""

    def __init__(self, cube: np.ndarray, meta: dict, masks: np.ndarray | None = None):
        super().__init__(meta.get("path", "video"), Path("."), meta)
        self._arrays = {"cube": cube, "masks": masks}

    def _open(self, name: str):
        return self._arrays.get(name)

    @property
    def has_masks(self) -> bool:
        return self._arrays["masks"] is not None


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
            with open(self.manifest_path) as f:
                self._manifest = json.load(f)
            if self._manifest.get("format") != FORMAT_VERSION:
                raise GlimpseError(f"{self.root}: store format {self._manifest.get('format')} "
                                   f"is not the supported format {FORMAT_VERSION}")
        return self._manifest

    @property
    def feature(self) -> dict:
        return self.manifest["feature"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    def create_or_check(self, feature: dict, labels: list[str], source: str | None = None) -> None:
        """Start a store, or check that an existing one holds the same kind of features.
        ``source`` (the dataset's root folder) is recorded so reports can find the videos."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.entries_dir.mkdir(exist_ok=True)
        want = {"format": FORMAT_VERSION, "feature": feature, "labels": list(labels),
                "source": source}
        if self.manifest_path.exists():
            have = self.manifest
            if have["feature"] != feature:
                diff = {k: (have["feature"].get(k), v) for k, v in feature.items()
                        if have["feature"].get(k) != v}
                raise GlimpseError(f"{self.root} already holds other features "
                                   f"({', '.join(f'{k}: {a} != {b}' for k, (a, b) in diff.items())});"
                                   f" extract into a new folder")
            if have["labels"] != list(labels):
                raise GlimpseError(f"{self.root} was extracted with other classes "
                                   f"({have['labels']}); extract into a new folder")
        else:
            write_json_atomic(self.manifest_path, want)
            self._manifest = want
        for stale in self.entries_dir.glob(".tmp-*"):  # left by a killed run: never trusted
            shutil.rmtree(stale, ignore_errors=True)

    # -- entries ------------------------------------------------------------------------------
    def has(self, eid: str) -> bool:
        return (self.entries_dir / eid / "meta.json").exists()

    def write_entry(self, eid: str, meta: dict, cube: np.ndarray, *, pooled: np.ndarray | None = None,
                    masks: np.ndarray | None = None) -> None:
        """Write one video's entry atomically (temporary folder, fsync, rename)."""
        T = cube.shape[0]
        if meta["frames"] != T or len(meta["times"]) != T:
            raise ValueError(f"meta says {meta['frames']} frames, cube has {T}")
        tmp = self.entries_dir / f".tmp-{eid}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _save_npy(tmp / "cube.npy", cube.astype(np.float16))
        if pooled is not None:
            _save_npy(tmp / "pooled.npy", pooled.astype(np.float16))
        if masks is not None:
            _save_npy(tmp / "masks.npy", masks.astype(np.float16))
        write_json_atomic(tmp / "meta.json", meta)
        final = self.entries_dir / eid
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        fd = os.open(self.entries_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def ids(self) -> list[str]:
        if not self.entries_dir.exists():
            return []
        return sorted(p.name for p in self.entries_dir.iterdir()
                      if not p.name.startswith(".") and (p / "meta.json").exists())

    def entry(self, eid: str) -> Entry:
        folder = self.entries_dir / eid
        try:
            with open(folder / "meta.json") as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise GlimpseError(f"{self.root} has no entry '{eid}'") from None
        return Entry(eid, folder, meta)

    def entries(self) -> list[Entry]:
        return [self.entry(i) for i in self.ids()]

    def __len__(self) -> int:
        return len(self.ids())
