"""``glimpse demo``: the main job on the embedded default, minutes on a laptop CPU.

SynthActions -> EfficientNet-Lite0 features -> structured (paper 000), soft (paper 002) and
no-attention LSTMs -> test metrics -> one HTML report comparing where each looked. Every stage
reuses what a previous run of the demo finished (synth and extract skip done videos, train
resumes, evaluation is redone only for a newer checkpoint).
"""

from __future__ import annotations

import time
from pathlib import Path

from glimpse import GlimpseError
from glimpse.config import TrainConfig
from glimpse.evaluate import evaluate_run
from glimpse.features.extract import extract
from glimpse.run import Run
from glimpse.synth import PRESETS, generate
from glimpse.train import train
from glimpse.viz.report import make_report

SYNTH = PRESETS["demo"]
TRAIN = TrainConfig(epochs=10, batch_size=32, lr=1e-3, clip_len=SYNTH.frames, stride=2)
HIDDEN = 128
MODELS = [("structured", "structured", dict(hidden=HIDDEN, lam=1e-2)),  # (run, model, options)
          ("soft", "soft", dict(hidden=HIDDEN)),
          ("none", "none", dict(hidden=HIDDEN))]


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
        raise GlimpseError(f"{len(s.failures)} SynthActions videos could not be extracted (listed "
                           f"in {out / 'features' / 'failures.json'}); delete {out} and run the "
                           f"demo again")
    results = {}
    for name, model, options in MODELS:
        run = out / "runs" / name
        stage(f"3/5 train {name}")
        train(out / "features", run, model, options, TRAIN, progress=progress,
              log=lambda m: log("      " + m))
        results[name] = Run(run).current_metrics("test", video_rule="vote")
        if results[name] is None:
            stage(f"4/5 evaluate {name}")
            results[name] = evaluate_run(run, progress=progress)
    stage("5/5 report")
    page = make_report([out / "runs" / n for n, _, _ in MODELS], out / "report", progress=progress)
    stage("done")
    return {"report": page, "metrics": results, "seconds": time.time() - t0}
