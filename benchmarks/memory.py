"""Peak memory of extraction and prediction against video length, as ratios measured in one run.

Makes a 10 s SynthActions-like clip (256 x 256, 25 fps, with its actor masks) and a 10x longer
one (the same footage played 10 times: 100 s, 2,500 frames), trains a tiny run on a few short
clips, then in a fresh process each: ``glimpse extract`` of every frame, and ``glimpse predict``
(every frame, as the run was trained) with and without ``--overlay .mp4``. Prints each process's
peak RSS and the long / short ratio. Goal: every ratio < 1.10 (memory flat in video length).
One process's peak varies by about +-10% from run to run here (the same extract: 1,261 to
1,406 MB), so each command runs ``--repeats`` times (short and long alternating) and the ratio
is of the medians, with each side's range shown.

    python benchmarks/memory.py [--seconds 10] [--factor 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glimpse.datasets.masks import load_masks, save_masks  # noqa: E402
from glimpse.synth import SynthConfig, generate  # noqa: E402
from glimpse.synth.scene import Difficulty  # noqa: E402
from glimpse.video import read_frames, write_video  # noqa: E402

FPS = 25
COMMANDS = ("extract", "predict", "overlay")  # --commands' choices
PEAK = """
import sys
from glimpse.allocator import peak_resident_bytes
from glimpse.cli import main
rc = main(sys.argv[1:])
print("PEAK_RSS_KB", peak_resident_bytes() // 1024, flush=True)
sys.exit(rc)
"""


def peak_rss_mb(*args: str) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``glimpse ARGS`` in a fresh process."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", PEAK, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"glimpse {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    kb = int(next(line.split()[1] for line in p.stdout.splitlines()
                  if line.startswith("PEAK_RSS_KB")))
    return kb / 1024, time.perf_counter() - t


def _fresh(store: Path) -> str:
    """A store folder emptied for the next run (extraction resumes: a second run into the same
    store would skip every video and measure nothing)."""
    shutil.rmtree(store, ignore_errors=True)
    return str(store)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="length of the short clip")
    ap.add_argument("--factor", type=int, default=10, help="the long clip is this many times longer")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command (default 3)")
    ap.add_argument("--commands", default="extract,predict,overlay",
                    help="which of extract, predict, overlay (default all three)")
    a = ap.parse_args()
    wanted = set(a.commands.split(","))
    if wanted - set(COMMANDS):
        ap.error(f"--commands: unknown {', '.join(sorted(wanted - set(COMMANDS)))} (choose from "
                 f"{', '.join(COMMANDS)})")
    frames = a.seconds * FPS
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = SynthConfig(classes=2, groups=3, clips_per_group=1, frames=frames, fps=FPS, seed=0,
                          difficulty=Difficulty(actor_scale=(0.5, 0.7), distractors=1))
        generate(tmp / "train", cfg, progress=False)
        clip = sorted((tmp / "train").rglob("*.avi"))[0]
        masks = load_masks(clip.with_name(clip.stem + ".mask.npz"))
        pixels = read_frames(clip, fps=0).frames
        for name, times in (("short", 1), ("long", a.factor)):
            d = tmp / name / "a"
            d.mkdir(parents=True)
            write_video(d / "clip.avi", itertools.chain.from_iterable(itertools.repeat(pixels, times)),
                        fps=FPS)
            save_masks(d / "clip.mask.npz", np.tile(masks, (times, 1, 1)), fps=FPS)
        print(f"short clip {frames} frames ({a.seconds} s), long clip {frames * a.factor} frames "
              f"({a.seconds * a.factor} s), 256 x 256 at {FPS} fps, every frame featurized")
        subprocess.run([sys.executable, "-m", "glimpse", "extract", str(tmp / "train"),
                        str(tmp / "train-features"), "--fps", "0", "--quiet"], check=True,
                       capture_output=True)
        subprocess.run([sys.executable, "-m", "glimpse", "train", str(tmp / "train-features"),
                        "--model", "structured", "--hidden", "32", "--epochs", "1",
                        "--batch-size", "32", "--lr", "1e-3", "--quiet", "--out", str(tmp / "run")],
                       check=True, capture_output=True)
        rows = []
        for command, what, args in (
                ("extract", "extract", lambda n: ["extract", str(tmp / n), _fresh(tmp / f"store-{n}"),
                                                  "--fps", "0", "--quiet"]),
                ("predict", "predict", lambda n: ["predict", str(tmp / "run"),
                                                  str(tmp / n / "a" / "clip.avi")]),
                ("overlay", "predict --overlay .mp4", lambda n: ["predict", str(tmp / "run"),
                                                                 str(tmp / n / "a" / "clip.avi"),
                                                                 "--overlay", str(tmp / f"{n}.mp4")])):
            if command not in wanted:
                continue
            runs = [(peak_rss_mb(*args("short")), peak_rss_mb(*args("long")))
                    for _ in range(a.repeats)]
            short = [s for (s, _), _ in runs]
            long = [m for _, (m, _) in runs]
            ts = float(np.median([t for (_, t), _ in runs]))
            tl = float(np.median([t for _, (_, t) in runs]))
            rows.append((what, short, long, ts, tl))
        print(f"\n{'command':<24} {'short MB (range)':>18} {'long MB (range)':>18} {'short s':>8} "
              f"{'long s':>7} {'long / short':>13}")
        for what, short, long, ts, tl in rows:
            ms, ml = float(np.median(short)), float(np.median(long))
            print(f"{what:<24} {ms:>6.0f} ({min(short):.0f}-{max(short):.0f}) "
                  f"{ml:>6.0f} ({min(long):.0f}-{max(long):.0f}) {ts:>8.1f} {tl:>7.1f} "
                  f"{ml / ms:>13.3f}")
        print(f"\ngoal: every ratio (of the medians of {a.repeats} runs) < 1.10")


if __name__ == "__main__":
    main()
