"""What reading the store with ``pread`` (``glimpse.features.store.read_rows``) is worth against
the memory map it replaced, as ratios measured in one run.

Workloads (float16 8 x 8 x 1280 cubes, as the default backbone stores them, written to a
temporary folder, dropped from the page cache as extraction drops them, then read back once
untimed: the state a training's second epoch finds):

- *short*: many short clips, as every training and evaluation batch reads them: 30 contiguous
  frames (``Entry.stream``) of each of N videos of 60 frames;
- *uniform*: 8 frames spread over each video (``Entry.stream_at``, paper 001's uniform clips);
- *long*: one long video read whole (a linear probe's read, ``glimpse predict`` on a stored
  video), in clips of 30.

Each is timed best of ``--repeats`` both ways, interleaved in one process, with the page faults
and system time each way took (``getrusage``); the anchor is what ``Entry.stream`` did before:
``np.array(np.load(path, mmap_mode="r")[a:b])`` (and fancy indexing on the map for frames).
Prints each time and map / pread.

    python benchmarks/store_read.py [--videos 64] [--long 3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glimpse.features.store import read_rows  # noqa: E402

K, D = 8, 1280


def save_dropped(path: Path, array: np.ndarray) -> None:
    """np.save, then the file's pages out of the page cache (as ``glimpse extract`` leaves its
    arrays): read back, they come in as the store's do, not as the large pages a fresh write
    leaves (with which a map takes ~50x fewer page faults)."""
    np.save(path, array)
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def mapped(path: Path, rows):
    """The anchor: the memory-mapped read Entry.stream / stream_at did before."""
    a = np.load(path, mmap_mode="r")[rows]
    return np.array(a)


def timed(fn, reads) -> tuple[float, int, float]:
    """Seconds, minor page faults and system seconds of doing every read in ``reads``."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for path, rows in reads:
        fn(path, rows)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    return t1 - t0, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=64, help="short videos (60 frames each)")
    ap.add_argument("--long", type=int, default=3000, help="frames of the long video")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(a.videos):
            paths.append(Path(tmp) / f"v{i}.npy")
            save_dropped(paths[-1], rng.standard_normal((60, K, K, D), np.float32)
                         .astype(np.float16))
        long = Path(tmp) / "long.npy"
        save_dropped(long, rng.standard_normal((a.long, K, K, D), np.float32).astype(np.float16))
        workloads = {
            "short (30 contiguous frames a video)": [(p, slice(15, 45)) for p in paths],
            "uniform (8 frames spread over a video)": [(p, np.linspace(0, 59, 8).astype(int))
                                                        for p in paths],
            "long (one video, clips of 30)": [(long, slice(s, s + 30))
                                              for s in range(0, a.long, 30)]}
        for name, reads in workloads.items():
            for path, rows in reads[:2]:
                assert np.array_equal(mapped(path, rows), read_rows(path, rows))
            timed(read_rows, reads)  # the page cache warm for both
            best = {}
            for _ in range(a.repeats):  # interleaved: a slow moment hits both
                for fn in (mapped, read_rows):
                    got = timed(fn, reads)
                    best[fn] = min(best.get(fn, got), got)
            (tm, fm, sm), (tp, fp, sp) = best[mapped], best[read_rows]
            mb = sum(read_rows(p, r).nbytes for p, r in reads[:1]) * len(reads) / 1e6
            print(f"{name}: {len(reads)} reads, {mb:.0f} MB")
            print(f"  memory map: {tm * 1e3:8.1f} ms  ({fm} page faults, system {sm:.3f} s)")
            print(f"  pread:      {tp * 1e3:8.1f} ms  ({fp} page faults, system {sp:.3f} s)")
            print(f"  map / pread: {tm / tp:.2f}x")


if __name__ == "__main__":
    main()
