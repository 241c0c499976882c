"""Clips of T feature frames read from a feature store, sampled one of two ways:

- ``segments`` (paper 000 sec. 3.4, and 002, 003): a video of n frames gives clips of T
  consecutive frames starting at 0, d, 2d, ... while start + T <= n; a video shorter than T gives
  one clip, padded with zeros and masked (never silently repeated).
- ``uniform`` (paper 001): one clip per video, T frames at equal intervals over the whole video,
  frame j = floor((j + o) n / T) with the offset o drawn in [0, 1) for every training clip (per
  seed, epoch and clip, so a resumed run draws the same) and o = 1/2 (the intervals' centres)
  for evaluation; a video shorter than T repeats frames rather than padding.

Paper 001's temporal multi-scale test (sec. IV-D) is ``views``: one uniform clip from each of
several spans of the video, ``first-2/3`` (frames [0, ceil(2n/3))), ``last-2/3``
([floor(n/3), n)) and ``whole``; their scores are averaged like any video's clips.

Every item names the frames it holds (``frames``, -1 on padded steps), so per-frame results
(attention maps) go back to the right frames whatever the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.datasets.layouts import UNLABELLED
from glimpse.datasets.splits import group_split
from glimpse.features.store import Entry, FeatureStore

SAMPLINGS = ("segments", "uniform")
TEMPORAL_VIEWS = ("first-2/3", "last-2/3", "whole")  # the spans of paper 001's temporal test


def view_range(view: str, lo: int, hi: int) -> tuple[int, int]:
    """Frames [lo', hi') of the span ``view`` of the frames [lo, hi)."""
    n = hi - lo
    if view == "whole":
        return lo, hi
    if view == "first-2/3":
        return lo, lo + max(1, -(-2 * n // 3))
    if view == "last-2/3":
        return lo + n // 3, hi
    raise GlimpseError(f"unknown view '{view}'; choose from {', '.join(TEMPORAL_VIEWS)}")


def clip_starts(n: int, T: int, stride: int) -> list[int]:
    if n <= T:
        return [0]
    return list(range(0, n - T + 1, stride))


def _segment_frames(entry) -> list[tuple[int, int]]:
    """The frame ranges [lo, hi) of an entry's annotated segments (by the frames' times)."""
    segs = entry.meta.get("segments")
    if not segs:
        return []
    times = np.asarray(entry.meta["times"])
    out = []
    for s, e in segs:
        lo, hi = int(np.searchsorted(times, s, "left")), int(np.searchsorted(times, e, "right"))
        if hi > lo:
            out.append((lo, hi))
    return out


def uniform_frames(n: int, T: int, offset: float = 0.5) -> np.ndarray:
    """(T,) indices of T frames at equal intervals over n: floor((j + offset) n / T)."""
    return np.minimum(np.floor((np.arange(T) + offset) * n / T).astype(np.int64), n - 1)


@dataclass(frozen=True)
class _Item:  # what the split functions need of a video
    relpath: str
    label: str
    group: str | None


def split_store(store: FeatureStore, *, test_fraction: float, val_fraction: float, seed: int,
                official: str | None = None):
    """Group-disjoint {"train", "val", "test"} lists of entry ids (validation from training),
    and "unlabelled" where the store holds videos whose labels are withheld (never split).
    ``official``: the dataset's own split of that id (``extract --format``) for train and test;
    validation is its own "val" part where it has one, else carved from its training part
    (group-disjointly, or by video where there are no groups), never from test."""
    entries = store.entries()
    unlabelled = sorted(e.id for e in entries if e.label is None)  # scored, never trained on
    entries = [e for e in entries if e.label is not None]
    if official is not None:
        part = {e.id: e.meta.get("splits", {}).get(str(official)) for e in entries}
        if not any(part.values()):
            have = sorted({k for e in entries for k in e.meta.get("splits", {})})
            raise GlimpseError(f"no video of {store.root} is in official split '{official}' "
                               f"(the store has {', '.join(have) or 'no official splits'})")
        train = [_Item(e.id, e.label, e.group) for e in entries if part[e.id] == "train"]
        test = [_Item(e.id, e.label, e.group) for e in entries if part[e.id] == "test"]
        val = [_Item(e.id, e.label, e.group) for e in entries if part[e.id] == "val"]
        fit = train
        if not val:
            val, fit = group_split(train, val_fraction, seed + 7919)
    else:
        items = [_Item(e.id, e.label, e.group) for e in entries]
        test, train = group_split(items, test_fraction, seed)
        val, fit = group_split(train, val_fraction, seed + 7919)
    return {"train": sorted(i.relpath for i in fit), "val": sorted(i.relpath for i in val),
            "test": sorted(i.relpath for i in test),
            **({UNLABELLED: unlabelled} if unlabelled else {})}


class ClipDataset(torch.utils.data.Dataset):
    """Item i -> dict: each stream in ``streams`` (T, ...) float16 (zero-padded), mask (T,) bool,
    frames (T,) the frame indices (-1 where padded), label, video, start, and with
    ``actor=True`` the actor masks (T, K, K) float16 (None where the video has none).

    ``seed``: with ``uniform`` sampling, draw each clip's offset from (seed, epoch, clip) (for
    training; ``set_epoch`` each epoch); None: the intervals' centres (evaluation).
    ``targets = C``: also ``targets`` (C,) the video's labels as a multi-hot vector (a
    multi-label store). ``segments``: cut clips only from each video's annotated segments
    (meta.json ``segments``, seconds; ActivityNet's training clips), where it has any.
    ``views`` (``uniform`` only): one clip from each of these spans of every video (of
    ``TEMPORAL_VIEWS``; default the whole video)."""

    def __init__(self, entries: list[Entry], T: int, stride: int, *, streams=("rgb",),
                 actor: bool = False, sampling: str = "segments", seed: int | None = None,
                 targets: int | None = None, segments: bool = False, views=("whole",)):
        if sampling not in SAMPLINGS:
            raise GlimpseError(f"unknown sampling '{sampling}'; choose from {', '.join(SAMPLINGS)}")
        if tuple(views) != ("whole",) and sampling != "uniform":
            raise GlimpseError("temporal views are paper 001's test of uniformly sampled clips; "
                               f"this run cuts '{sampling}'")
        self.entries, self.T, self.streams, self.actor = entries, T, tuple(streams), actor
        self.sampling, self.seed, self.epoch, self.targets = sampling, seed, 0, targets
        self.index = []  # (video, start, lo, hi): a clip of frames [lo, hi) from ``start``
        for v, e in enumerate(entries):
            for lo, hi in (_segment_frames(e) if segments else None) or [(0, e.num_frames)]:
                if sampling == "uniform":
                    self.index += [(v, a, a, b) for a, b in (view_range(w, lo, hi)
                                                             for w in views)]
                else:
                    self.index += [(v, lo + s, lo, hi) for s in clip_starts(hi - lo, T, stride)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def frames(self, i: int, epoch: int | None = None) -> np.ndarray:
        """The frame indices of clip i (its valid steps) in ``epoch`` (default: set_epoch's)."""
        v, start, lo, hi = self.index[i]
        if self.sampling == "segments":
            return np.arange(start, min(start + self.T, hi))
        epoch = self.epoch if epoch is None else epoch
        offset = 0.5 if self.seed is None else \
            np.random.default_rng([self.seed, epoch, i]).random()
        return lo + uniform_frames(hi - lo, self.T, offset)

    def __len__(self):
        return len(self.index)

    def _padded(self, arr: np.ndarray) -> np.ndarray:
        if len(arr) == self.T:  # the store's reads are copies already
            return arr
        out = np.zeros((self.T,) + arr.shape[1:], np.float16)
        out[:len(arr)] = arr
        return out

    def __getitem__(self, i):
        """Clip i, or (epoch, i): clip i as drawn in that epoch (a loader's persistent workers
        hold a copy of the dataset, so the epoch travels with the index)."""
        epoch, i = i if isinstance(i, tuple) else (None, i)
        v, start, _, _ = self.index[i]
        e = self.entries[v]
        idx = self.frames(i, epoch)
        if self.sampling == "segments":  # a contiguous read
            read = lambda name: e.stream(name, start, start + len(idx))  # noqa: E731
        else:
            read = lambda name: e.stream_at(name, idx)  # noqa: E731
        mask = np.zeros(self.T, bool)
        mask[:len(idx)] = True
        frames = np.full(self.T, -1, np.int64)
        frames[:len(idx)] = idx
        item = {name: self._padded(read(name)) for name in self.streams}
        item.update(mask=mask, frames=frames, label=e.label_index, video=v, start=start)
        if self.targets:
            item["targets"] = np.zeros(self.targets, np.float32)
            item["targets"][e.label_indices] = 1.0
        if self.actor:
            item["actor"] = self._padded(read("masks")) if e.has_masks else None
        return item


def collate(items: list[dict]) -> dict:
    """Stack items into a batch: streams as float32 tensors (B, T, ...), mask (B, T) bool,
    label / video / start (B,), actor (B, T, K, K) only when every item has masks."""
    out = {k: torch.tensor([it[k] for it in items]) for k in ("label", "video", "start")}
    out["mask"] = torch.from_numpy(np.stack([it["mask"] for it in items]))
    out["frames"] = torch.from_numpy(np.stack([it["frames"] for it in items]))
    for k in items[0]:
        if k in out or k == "actor":
            continue
        out[k] = _stack_float([it[k] for it in items])
    if "actor" in items[0] and all(it["actor"] is not None for it in items):
        out["actor"] = _stack_float([it["actor"] for it in items])
    return out


def _stack_float(arrays: list[np.ndarray]) -> torch.Tensor:
    """np.stack(arrays) as float32, converted while copied (one pass over a batch's cubes,
    not a float16 stack and then a float32 copy of it)."""
    out = torch.empty((len(arrays),) + arrays[0].shape, dtype=torch.float32)
    for row, a in zip(out, arrays):
        row.copy_(torch.from_numpy(a))
    return out


def batches(dataset: ClipDataset, batch_size: int, order=None):
    """Yield collated batches in ``order`` (default: dataset order)."""
    order = range(len(dataset)) if order is None else order
    order = list(order)
    for i in range(0, len(order), batch_size):
        yield collate([dataset[j] for j in order[i:i + batch_size]])


class _EpochBatches(torch.utils.data.Sampler):
    """The batches of the current epoch, as (epoch, clip) lists: set before each epoch."""

    def __init__(self):
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class ClipLoader:
    """Training batches in a given order, as ``batches`` makes them, with ``workers`` > 0 from
    a torch DataLoader: persistent worker processes, pinned memory where the batches go to a
    GPU. The batches are the same either way (the dataset's draws depend on the seed, epoch and
    clip only), so a run's batches, and its resumption, do not depend on the workers."""

    def __init__(self, dataset: ClipDataset, batch_size: int, *, workers: int = 0,
                 pin_memory: bool = False):
        self.dataset, self.batch_size = dataset, batch_size
        self.sampler = _EpochBatches()
        self.loader = None if workers == 0 else torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, collate_fn=collate, num_workers=workers,
            pin_memory=pin_memory, persistent_workers=True, prefetch_factor=2,
            generator=torch.Generator().manual_seed(0))  # (its workers' seeds: never drawn
        #                                               from the global RNG the dropout uses)

    def epoch(self, order: list[int], epoch: int):
        """Yield the collated batches of ``order`` (clip indices) drawn as in ``epoch``."""
        if self.loader is None:
            self.dataset.set_epoch(epoch)
            yield from batches(self.dataset, self.batch_size, order)
            return
        self.sampler.batches = [[(epoch, j) for j in order[k:k + self.batch_size]]
                                for k in range(0, len(order), self.batch_size)]
        yield from self.loader


def to_device(batch: dict, device, non_blocking: bool = False) -> dict:
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}
