"""What a device gives glimpse, as ratios measured in one run: mixed precision against float32,
two processes against one.

On the CPU everywhere, and on CUDA where present (``--device cuda``), it measures

- **extraction**: frames/s of the default backbone (EfficientNet-Lite0, 256 x 256, batches of
  32 frames already decoded), float32 and under ``--amp`` (bf16; fp16 on CUDA too);
- **training**: clips/s of one full training step (forward, the model's loss, backward, Adam) of
  every model at T = 30, K = 8, D = 1280 (hidden 256; RSTAN and joint on their streams),
  float32 and under each half type, and the peak device memory of the step on CUDA;
- **a 2-process DDP step** (gloo on the CPU, NCCL on GPUs: ``torchrun --nproc-per-node 2`` in
  a subprocess) against one process on the same global batch: the speed-up of the step.

    python benchmarks/device.py [--device cuda] [--batch 32] [--repeats 3] [--models soft rstan]

Each figure is the fastest of ``--repeats`` timed calls after a warm-up; ratios compare runs of
this one process (the DDP figure: of the same subprocess harness). Absolute times move with the
machine's load; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from glimpse.amp import autocast
from glimpse.losses import weight_decay
from glimpse.models import MODELS, ModelConfig, build_model, model_class, model_options

T, K, D, D2, C = 30, 8, 1280, 112, 10
SPECS = {"rgb": {"layer": "x", "channels": D, "grid": K},
         "flow": {"layer": "x", "channels": D, "grid": K},
         "rgb_level2": {"layer": "y", "channels": D2, "grid": K}}


def best_of(fn, repeats: int, device) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def halves(device) -> list[str]:
    return ["bf16", "fp16"] if torch.device(device).type == "cuda" else ["bf16"]


def extraction(device, batch: int, repeats: int) -> dict:
    from glimpse.features.extract import Featurizer

    frames = torch.randint(0, 255, (batch, 256, 256, 3), dtype=torch.uint8).numpy()
    out = {}
    for amp in ["off", *halves(device)]:
        fz = Featurizer(device=str(device), amp=amp)

        def run(fz=fz, amp=amp):
            with torch.inference_mode(), autocast(amp, device):
                fz.net.levels(torch.from_numpy(frames).to(device))

        out[amp] = batch / best_of(run, repeats, device)
    return out


def batch_for(model: str, B: int, device) -> dict:
    g = torch.Generator().manual_seed(0)
    streams = model_class(model).reads(model_options(model))
    b = {s: torch.randn(B, T, K, K, SPECS[s]["channels"], generator=g) for s in streams}
    b.update(mask=torch.ones(B, T, dtype=torch.bool), label=torch.randint(0, C, (B,), generator=g),
             actor=torch.rand(B, T, K, K, generator=g))
    return {k: v.to(device) for k, v in b.items()}


def training(model: str, device, B: int, repeats: int) -> dict:
    options = {"hidden": 256} if "hidden" in model_options(model) else {}
    streams = model_class(model).reads(model_options(model, options))
    torch.manual_seed(0)
    net = build_model(ModelConfig(model, C, {s: SPECS[s] for s in streams}, options)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    b = batch_for(model, B, device)
    out = {}
    for amp in ["off", *halves(device)]:
        scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None

        def step(amp=amp, scaler=scaler):
            with autocast(amp, device):
                terms = net.loss(net(b), b)
            loss = sum(t.float() for t in terms.values()) + weight_decay(net, 1e-5)
            opt.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()

        if torch.device(device).type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        out[amp] = {"clips_per_s": B / best_of(step, repeats, device)}
        if torch.device(device).type == "cuda":
            out[amp]["peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


DDP_STEP = """
import json, os, sys, time, torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from glimpse.models import ModelConfig, build_model
B, steps, device = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
world = int(os.environ.get("WORLD_SIZE", "1"))
rank = 0
if world > 1:
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank()
dev = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if device == "cuda" else "cpu"
torch.manual_seed(0)
net = build_model(ModelConfig("soft", 10, {"rgb": {"layer": "x", "channels": 1280, "grid": 8}},
                              {"hidden": 256})).to(dev)
step_net = DistributedDataParallel(net) if world > 1 else net
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
per = B // world
b = {"rgb": torch.randn(per, 30, 8, 8, 1280, device=dev),
     "mask": torch.ones(per, 30, dtype=torch.bool, device=dev),
     "label": torch.zeros(per, dtype=torch.long, device=dev)}
def step():
    loss = sum(net.loss(step_net(b), b).values())
    opt.zero_grad(); loss.backward(); opt.step()
step()
best = float("inf")
for _ in range(steps):
    if world > 1: dist.barrier()
    if device == "cuda": torch.cuda.synchronize()
    t = time.perf_counter(); step()
    if device == "cuda": torch.cuda.synchronize()
    best = min(best, time.perf_counter() - t)
if rank == 0:
    print(json.dumps({"step_s": best}))
"""


def ddp(device, B: int, repeats: int) -> dict:
    """Seconds of one global step of B clips: one process, then 2 under torchrun."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ddp_step.py"
        script.write_text(DDP_STEP)
        kind = torch.device(device).type
        threads = max(1, (os.cpu_count() or 2) // 2)
        out = {}
        for n in (1, 2):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads if n == 2 else 2 * threads)}
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(n), str(script), str(B), str(repeats), kind]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
            if r.returncode:
                raise SystemExit(f"the DDP step failed:\n{r.stderr[-2000:]}")
            out[n] = json.loads(r.stdout.strip().splitlines()[-1])["step_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32, help="clips a training step (default 32)")
    ap.add_argument("--frames", type=int, default=32, help="frames an extraction batch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--skip", nargs="*", default=[], choices=["extract", "train", "ddp"])
    a = ap.parse_args()
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    if "extract" not in a.skip:
        e = extraction(device, a.frames, a.repeats)
        print(f"extraction (frames/s): float32 {e['off']:.1f}" + "".join(
            f", {h} {e[h]:.1f} ({e[h] / e['off']:.2f}x)" for h in halves(device)))
    if "train" not in a.skip:
        print(f"training step (clips/s, batch {a.batch}, T {T}):")
        for m in a.models:
            r = training(m, device, a.batch, a.repeats)
            line = f"  {m:<19} float32 {r['off']['clips_per_s']:7.1f}" + "".join(
                f"  {h} {r[h]['clips_per_s']:7.1f} "
                f"({r[h]['clips_per_s'] / r['off']['clips_per_s']:.2f}x)" for h in halves(device))
            if "peak_gib" in r["off"]:
                line += "  peak GiB " + " / ".join(f"{r[k]['peak_gib']:.2f}" for k in r)
            print(line, flush=True)
    if "ddp" not in a.skip:
        d = ddp(device, a.batch, a.repeats)
        print(f"DDP step, soft, global batch {a.batch}: 1 process {d[1]:.3f} s, 2 processes "
              f"{d[2]:.3f} s: {d[1] / d[2]:.2f}x")


if __name__ == "__main__":
    main()
