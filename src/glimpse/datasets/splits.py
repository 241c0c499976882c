"""Train / validation / test splits. Model selection uses validation, never test.

- UCF-11 (paper 000): per class, a seeded random draw of 15 of the 25 groups for training and
  10 for testing; the paper reports mean +- std over 5 draws. With fewer groups the same
  fraction (15/25) is kept, at least one group on each side.
- HMDB-51: the official ``<class>_test_split{1,2,3}.txt`` files, one ``video.avi tag`` per line,
  tag 1 = train, 2 = test, 0 = unused.
- Validation is carved out of the training items by group (by video where there are no groups),
  so no group straddles train and validation.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from glimpse import GlimpseError
from glimpse.datasets.layouts import VideoItem
from glimpse.io import read_lines


def _groups_by_class(items) -> dict[str, list[str]]:
    groups = defaultdict(set)
    for it in items:
        groups[it.label].add(it.group if it.group is not None else it.relpath)
    return {c: sorted(g) for c, g in sorted(groups.items())}


def _key(it: VideoItem) -> str:
    return it.group if it.group is not None else it.relpath


def group_split(items, fraction: float, seed: int) -> tuple[list[VideoItem], list[VideoItem]]:
    """Per class, a seeded draw of round(fraction * groups) groups (at least one, and at least
    one left when the class has two or more) -> (drawn items, other items)."""
    rng = random.Random(seed)
    chosen = set()
    for label, groups in _groups_by_class(items).items():
        n = round(fraction * len(groups))
        n = min(max(n, 1), len(groups) - 1) if len(groups) > 1 else len(groups)
        for g in rng.sample(groups, n):
            chosen.add((label, g))
    a = [it for it in items if (it.label, _key(it)) in chosen]
    b = [it for it in items if (it.label, _key(it)) not in chosen]
    return a, b


def ucf11_splits(items, *, seed: int = 0, draws: int = 5, train_groups: int = 15,
                 total_groups: int = 25) -> list[tuple[list[VideoItem], list[VideoItem]]]:
    """``draws`` seeded (train, test) group splits, as in paper 000's UCF-11 protocol."""
    return [group_split(items, train_groups / total_groups, seed * 1000 + d) for d in range(draws)]


def validation_split(train, *, fraction: float = 0.2, seed: int = 0):
    """(train, validation): a group-disjoint part of the training items for model selection."""
    val, rest = group_split(train, fraction, seed + 7919)
    if not rest:  # a single group per class: nothing can be held out without emptying training
        raise GlimpseError("cannot carve a validation part: each class has a single group")
    return rest, val


def hmdb_split(items, split_dir: str | Path, split: int = 1):
    """(train, test) from HMDB-51's official split files, matching items by file name."""
    split_dir = Path(split_dir)
    files = sorted(split_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise GlimpseError(f"no '*_test_split{split}.txt' files in {split_dir}")
    tags = {}
    for f in files:
        for n, line in read_lines(f, what="an HMDB-51 split file", comments=False):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise GlimpseError(f"{f}:{n}: expected 'video.avi 0|1|2', got '{line}'")
            tags[parts[0]] = int(parts[1])
    train = [it for it in items if tags.get(it.path.name) == 1]
    test = [it for it in items if tags.get(it.path.name) == 2]
    if not train or not test:
        raise GlimpseError(f"the split files in {split_dir} name none of the dataset's videos")
    return train, test
