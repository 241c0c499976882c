"""``glimpse demo``: the main job on the embedded default, minutes on a laptop CPU.

SynthActions' demo preset (two people; the labelled one holds a red ball and does one of five
motions, the other another motion) -> EfficientNet-Lite0 features -> three models -> test
metrics -> one HTML report comparing where each looked:

- ``rstan``: paper 001's attention scored from each cell's content, current-frame window, with
  its actor-attention term (Table III's current-frame attention, rgb): it learns to look at the
  person with the ball;
- ``soft``: paper 002's location softmax from the LSTM's state (it does not see the frame);
- ``avgpool``: paper 002's LSTM on the mean of the cells, the model that does not look.

It ends with the paired comparison of the attention model against the pooled one on the same
test videos (``glimpse compare``). Every stage reuses what a previous run of the demo finished
(synth and extract skip done videos, train resumes, evaluation is redone only for a newer
checkpoint).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from glimpse import GlimpseError
from glimpse.compare import compare_runs
from glimpse.config import TrainConfig
from glimpse.evaluate import evaluate_run
from glimpse.features.extract import extract
from glimpse.run import Run
from glimpse.synth import PRESETS, generate
from glimpse.train import train
from glimpse.viz.report import make_report

SYNTH = PRESETS["demo"]
TRAIN = TrainConfig(epochs=15, batch_size=32, lr=1e-3, clip_len=SYNTH.frames, stride=2)
HIDDEN = 128
MODELS = [  # (run, model, options, training settings over TRAIN)
    ("rstan", "rstan", dict(stream="rgb", hidden=HIDDEN, att_dim=64, lam_aa=0.5,
                            window="current"), dict(clip_len=8, eval_clip_len=SYNTH.frames)),
    ("soft", "soft", dict(hidden=HIDDEN), {}),
    ("avgpool", "avgpool", dict(hidden=HIDDEN), {})]
CONTRAST = ("avgpool", "rstan")  # the model that does not look, and the one that does


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
    for name, model, options, settings in MODELS:
        run = out / "runs" / name
        stage(f"3/5 train {name}")
        train(out / "features", run, model, options, replace(TRAIN, **settings),
              progress=progress, log=lambda m: log("      " + m))
        results[name] = Run(run).current_metrics("test", video_rule="vote")
        if results[name] is None:
            stage(f"4/5 evaluate {name}")
            results[name] = evaluate_run(run, progress=progress)
    stage("5/5 report")
    page = make_report([out / "runs" / n for n, *_ in MODELS], out / "report", progress=progress)
    a, b = CONTRAST
    contrast = compare_runs([out / "runs" / a], [out / "runs" / b])
    stage("done")
    return {"report": page, "metrics": results, "seconds": time.time() - t0,
            "contrast": contrast}
