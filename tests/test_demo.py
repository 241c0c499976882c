"""The demo's path end to end on a tiny version of its preset (the real one runs in minutes:
``make demo``): synth, extract, the three models, the report, and the paired comparison of the
attention model against the pooled one."""

from dataclasses import replace

import glimpse.demo as demo
from glimpse.synth import PRESETS


def test_the_demo_runs_its_stages_and_compares_the_model_that_looks(tmp_path, monkeypatch):
    tiny = replace(PRESETS["demo"], groups=3, frames=8, width=96, height=96)
    monkeypatch.setattr(demo, "SYNTH", tiny)
    monkeypatch.setattr(demo, "TRAIN", replace(demo.TRAIN, epochs=1, clip_len=8, batch_size=4))
    monkeypatch.setattr(demo, "MODELS", [(n, m, {**o, "hidden": 4}, {**t, **(
        {"eval_clip_len": 8} if "eval_clip_len" in t else {})}) for n, m, o, t in demo.MODELS])
    r = demo.run_demo(tmp_path / "out", progress=False, log=lambda *_: None)
    assert set(r["metrics"]) == {"rstan", "soft", "avgpool"}
    assert r["report"].exists()
    c = r["contrast"]
    assert (c.a, c.b) == ("avgpool", "rstan") and c.videos == len(tiny.class_names)
    assert r["metrics"]["rstan"]["attention"]["pointing"] >= 0  # attention scored on the actor
