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
    """Item i -> dict(features (T, K, K, D) float16, mask (T,) bool, label, video, start,
    actor (T, K, K) float16 or None)."""

    def __init__(self, entries: list[Entry], T: int, stride: int):
        self.entries, self.T = entries, T
        self.index = [(v, s) for v, e in enumerate(entries) for s in clip_starts(e.num_frames, T,
                                                                                  stride)]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        v, start = self.index[i]
        e = self.entries[v]
        stop = min(start + self.T, e.num_frames)
        cube = e.cube(start, stop)
        n = len(cube)
        feats = np.zeros((self.T,) + cube.shape[1:], np.float16)
        feats[:n] = cube
        mask = np.zeros(self.T, bool)
        mask[:n] = True
        actor = e.masks(start, stop)
        if actor is not None:
            pad = np.zeros((self.T,) + actor.shape[1:], np.float16)
            pad[:n] = actor
            actor = pad
        return {"features": feats, "mask": mask, "label": e.label_index, "video": v,
                "start": start, "actor": actor}


def collate(items: list[dict]) -> dict:
    out = {"features": torch.from_numpy(np.stack([it["features"] for it in items])).float(),
           "mask": torch.from_numpy(np.stack([it["mask"] for it in items])),
           "label": torch.tensor([it["label"] for it in items]),
           "video": torch.tensor([it["video"] for it in items]),
           "start": torch.tensor([it["start"] for it in items])}
    if all(it["actor"] is not None for it in items):
        out["actor"] = torch.from_numpy(np.stack([it["actor"] for it in items])).float()
    return out


def batches(dataset: ClipDataset, batch_size: int, order=None):
    """Yield collated batches in ``order`` (default: dataset order)."""
    order = range(len(dataset)) if order is None else order
    order = list(order)
    for i in range(0, len(order), batch_size):
        yield collate([dataset[j] for j in order[i:i + batch_size]])
