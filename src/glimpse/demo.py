"""``glimpse demo``: the main job on the embedded default, minutes on a laptop CPU.

SynthActions -> EfficientNet-Lite0 features -> structured (paper 000), soft (paper 002) and
no-attention LSTMs -> test metrics -> one HTML report comparing where each looked. Every stage
reuses what a previous run of the demo finished (synth and extract skip done videos, train
resumes, evaluation is redone only for a newer checkpoint).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from glimpse.config import ModelConfig, TrainConfig
from glimpse.evaluate import evaluate_run
from glimpse.features.extract import extract
from glimpse.synth import SynthConfig, generate
from glimpse.synth.scene import Difficulty
from glimpse.train import train
from glimpse.viz.report import make_report

SYNTH = SynthConfig(classes=10, groups=20, clips_per_group=2, frames=40, seed=0,
                    difficulty=Difficulty(actor_scale=(0.5, 0.7), distractors=1))
TRAIN = TrainConfig(epochs=10, batch_size=32, lr=1e-3, clip_len=30, stride=2)
HIDDEN = 128
MODELS = [("structured", dict(name="structured", lam=1e-2)),
          ("soft", dict(name="soft")),
          ("none", dict(name="none"))]


def run_demo(out: str | Path, *, progress: bool = True, log=print) -> dict:
    out = Path(out)
    t0 = time.time()

    def stage(msg):
        log(f"[{time.time() - t0:5.0f}s] {msg}")

    stage(f"1/5 SynthActions: {SYNTH.classes} classes x {SYNTH.groups} groups x "
          f"{SYNTH.clips_per_group} clips -> {out / 'videos'}")
    generate(out / "videos", SYNTH, progress=progress)
    stage("2/5 features: EfficientNet-Lite0, every frame, 8 x 8 x 1280")
    s = extract(out / "videos", out / "features", fps=0, progress=progress)
    if s.failures:
        raise RuntimeError(f"extraction failed for {len(s.failures)} videos")
    results = {}
    for name, kw in MODELS:
        run = out / "runs" / name
        stage(f"3/5 train {name}")
        train(out / "features", run, ModelConfig(num_classes=0, feature_dim=0, grid=0,
                                                 hidden=HIDDEN, **kw), TRAIN,
              progress=progress, log=lambda m: log("      " + m))
        metrics_path = run / "metrics.json"
        if metrics_path.exists() and metrics_path.stat().st_mtime >= (run / "best.pt").stat().st_mtime:
            results[name] = json.loads(metrics_path.read_text())
        else:
            stage(f"4/5 evaluate {name}")
            results[name] = evaluate_run(run, progress=progress)
    stage("5/5 report")
    page = make_report([out / "runs" / n for n, _ in MODELS], out / "report", progress=progress)
    stage("done")
    return {"report": page, "metrics": results, "seconds": time.time() - t0}
