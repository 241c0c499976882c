"""Clips of T feature frames with stride d, read from a feature store (paper 000 sec. 3.4).

A video of n sampled frames gives clips starting at 0, d, 2d, ... while start + T <= n; a video
shorter than T gives one clip, padded with zeros and masked (never silently repeated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glimpse.datasets.splits import group_split
from glimpse.features.store import Entry, FeatureStore


def clip_starts(n: int, T: int, stride: int) -> list[int]:
    if n <= T:
        return [0]
    return list(range(0, n - T + 1, stride))


@dataclass(frozen=True)
class _Item:  # what the split functions need of a video
    relpath: str
    label: str
    group: str | None


def split_store(store: FeatureStore, *, test_fraction: float, val_fraction: float, seed: int):
    """Group-disjoint {"train", "val", "test"} lists of entry ids (validation from training)."""
    entries = store.entries()
    items = [_Item(e.id, e.label, e.group) for e in entries]
    test, train = group_split(items, test_fraction, seed)
    val, fit = group_split(train, val_fraction, seed + 7919)
    return {"train": sorted(i.relpath for i in fit), "val": sorted(i.relpath for i in val),
            "test": sorted(i.relpath for i in test)}


class ClipDataset(torch.utils.data.Dataset):
    """Item i -> dict: each stream in ``streams`` (T, ...) float16 (zero-padded), mask (T,) bool,
    label, video, start, and with ``actor=True`` the actor masks (T, K, K) float16 (None where
    the video has none)."""

    def __init__(self, entries: list[Entry], T: int, stride: int, *, streams=("rgb",),
                 actor: bool = False):
        self.entries, self.T, self.streams, self.actor = entries, T, tuple(streams), actor
        self.index = [(v, s) for v, e in enumerate(entries) for s in clip_starts(e.num_frames, T,
                                                                                  stride)]

    def __len__(self):
        return len(self.index)

    def _padded(self, arr: np.ndarray) -> np.ndarray:
        out = np.zeros((self.T,) + arr.shape[1:], np.float16)
        out[:len(arr)] = arr
        return out

    def __getitem__(self, i):
        v, start = self.index[i]
        e = self.entries[v]
        stop = min(start + self.T, e.num_frames)
        mask = np.zeros(self.T, bool)
        mask[:stop - start] = True
        item = {name: self._padded(e.stream(name, start, stop)) for name in self.streams}
        item.update(mask=mask, label=e.label_index, video=v, start=start)
        if self.actor:
            actor = e.masks(start, stop)
            item["actor"] = None if actor is None else self._padded(actor)
        return item


def collate(items: list[dict]) -> dict:
    """Stack items into a batch: streams as float32 tensors (B, T, ...), mask (B, T) bool,
    label / video / start (B,), actor (B, T, K, K) only when every item has masks."""
    out = {k: torch.tensor([it[k] for it in items]) for k in ("label", "video", "start")}
    out["mask"] = torch.from_numpy(np.stack([it["mask"] for it in items]))
    for k in items[0]:
        if k in out or k == "actor":
            continue
        out[k] = torch.from_numpy(np.stack([it[k] for it in items])).float()
    if "actor" in items[0] and all(it["actor"] is not None for it in items):
        out["actor"] = torch.from_numpy(np.stack([it["actor"] for it in items])).float()
    return out


def batches(dataset: ClipDataset, batch_size: int, order=None):
    """Yield collated batches in ``order`` (default: dataset order)."""
    order = range(len(dataset)) if order is None else order
    order = list(order)
    for i in range(0, len(order), batch_size):
        yield collate([dataset[j] for j in order[i:i + batch_size]])


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}
