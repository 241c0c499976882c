"""``glimpse report RUN [RUN ...]``: one self-contained HTML page per run or comparison.

``OUT/index.html`` plus ``OUT/assets/`` (PNG figures, animated WebP), relative paths only, no
script and nothing fetched from the network, so it opens from disk and can be zipped and sent.
Sections: configuration and feature spec, metrics (side by side for several runs), training
curves, per-class accuracy, confusion matrices, and a gallery of test videos (correct and wrong)
where each run's attention plays next to the others' and, where the dataset has one, the actor's
ground-truth mask (paper 000 Fig. 6 for structured vs classic attention).
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.compare import compare_correct, read_predictions
from glimpse.evaluate import (
    clip_settings,
    evaluate_run,
    frame_attention,
    open_store,
    run_clips,
    video_decision,
)
from glimpse.heat import overlay
from glimpse.io import read_csv_rows
from glimpse.progress import progress_bar
from glimpse.run import load_run
from glimpse.video import VideoError, read_frames
from glimpse.viz.overlay import _caption, mask_panel, save_animation

CELL = 128  # gallery frame height in pixels
GIF_FRAMES = 16  # frames per gallery animation (evenly spread over the video)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # a class named "$x$" is drawn, not parsed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    _plt().close(fig)


def _read_log(run: Path) -> list[dict]:
    p = run / "log.csv"
    if not p.exists():
        return []
    rows = read_csv_rows(p, columns=("epoch",), what="a run's log")
    try:  # a column added mid-run is empty before
        return [{k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in rows]
    except ValueError as e:
        raise GlimpseError(f"{p}: a value that is not a number ({e}); a run's log was "
                           f"expected") from None


POLICY_COLUMNS = ("train_reward", "train_policy_entropy", "train_baseline_error",
                  "train_policy_on_actor")  # reinforce (the last where the store has actor masks)


def _curves(runs, names, path: Path):
    """Loss and accuracy per epoch; a third panel with a policy's reward, entropy and baseline
    error where a run logs them (a collapsing policy shows as its entropy falling to 0)."""
    plt = _plt()
    logs = [_read_log(run) for run in runs]
    policy = any(k in log[0] for log in logs if log for k in POLICY_COLUMNS)
    fig, axes = plt.subplots(1, 3 if policy else 2, figsize=(13.5 if policy else 9, 3.2), dpi=90)
    ax1, ax2 = axes[:2]
    for log, name in zip(logs, names):
        if not log:
            continue
        ep = [r["epoch"] for r in log]
        if policy:
            for k in POLICY_COLUMNS:
                if k in log[0]:
                    axes[2].plot(ep, [r[k] for r in log], marker="o", ms=3,
                                 label=f"{name} {k[len('train_'):].replace('_', ' ')}")
        ax1.plot(ep, [r["train_loss"] for r in log], marker="o", ms=3, label=name)
        ax2.plot(ep, [r["train_step_accuracy"] for r in log], ls="--", alpha=0.6,
                 label=f"{name} train (steps)")
        ax2.plot(ep, [r["val_top1"] for r in log], marker="o", ms=3, label=f"{name} val top-1")
    ax1.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax2.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="accuracy")
    ax2.legend(fontsize=7)
    ax1.legend(fontsize=7)
    if policy:
        axes[2].set(xlabel="epoch", title="policy (reward, entropy in nats, baseline error, "
                                          "share of glimpses on the actor)")
        axes[2].legend(fontsize=7)
    _save(fig, path)


def _per_class(metrics, names, labels, split: str, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=90)
    x = np.arange(len(labels))
    w = 0.8 / len(metrics)
    for k, (m, name) in enumerate(zip(metrics, names)):
        vals = [m["per_class"].get(c) or 0.0 for c in labels]
        ax.bar(x + k * w - 0.4 + w / 2, vals, w, label=name)
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set(ylabel="accuracy", ylim=(0, 1.02), title=f"per-class accuracy ({split})")
    ax.legend(fontsize=7)
    _save(fig, path)


def _confusion(m, labels, title, path: Path):
    plt = _plt()
    c = np.array(m["confusion"], float)
    norm = c / np.maximum(c.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=90)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(c)):
        for j in range(len(c)):
            if c[i, j]:
                ax.text(j, i, int(c[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    _save(fig, path)


def _display_frames(video: Path, fps: float, n: int):
    """Sampled RGB frames at gallery size keeping the aspect ratio, or None if unreadable."""
    try:
        b = read_frames(video, fps=fps)
    except VideoError:
        return None
    frames = b.frames
    H, W = frames.shape[1:3]
    width = max(2, int(round(CELL * W / H / 2)) * 2)
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((width, CELL), Image.BILINEAR))
                     for f in frames])[:n]


def _pick_videos(entries, correct: np.ndarray, k: int, rng) -> list[int]:
    """Up to k videos, half right and half wrong where possible, spread over the classes."""
    right, wrong = [i for i in range(len(entries)) if correct[i]], \
        [i for i in range(len(entries)) if not correct[i]]
    for pool in (right, wrong):
        rng.shuffle(pool)
        pool.sort(key=lambda i: entries[i].label_index)  # stable: spread across classes
    take_w = min(len(wrong), k // 2)
    take_r = min(len(right), k - take_w)
    take_w = min(len(wrong), k - take_r)

    def spread(pool, n):
        if n <= 0:
            return []
        idx = np.linspace(0, len(pool) - 1, n).round().astype(int)
        return [pool[i] for i in idx]

    return sorted(spread(right, take_r) + spread(wrong, take_w),
                  key=lambda i: (entries[i].label_index, entries[i].id))


def _display_name(run: Path, config: dict, taken: list[str]) -> str:
    """'folder (model, option=value ...)': the options shown are the penalty weight where the
    model has one (a config records only the options that apply to its model)."""
    base = run.name if run.name not in taken else f"{run.name}-{len(taken)}"
    lam = config["model"]["options"].get("lam")
    return f"{base} ({config['model']['name']}{f', λ={lam:g}' if lam is not None else ''})"


def make_report(runs, out=None, *, videos: int = 40, split: str = "test", features=None,
                progress: bool = True) -> Path:
    """Write the report for one run, or the side-by-side comparison of several, on ``split``
    (metrics.json is reused when it scores the current checkpoint on that split and store, else
    the run is evaluated again). ``features``: the feature store, where it moved since training."""
    runs = [Path(r) for r in runs]
    out = Path(out) if out else runs[0] / "report"
    loaded = [load_run(r) for r in runs]
    names: list[str] = []
    for r, ld in zip(runs, loaded):
        names.append(_display_name(r, ld.config, [n.split(" ")[0] for n in names]))
    cfg0 = loaded[0].config
    labels = cfg0["labels"]
    for ld, r in zip(loaded[1:], runs[1:]):
        if ld.config["feature"] != cfg0["feature"] or ld.config["labels"] != labels:
            raise GlimpseError(f"{r} was trained on other features or classes than {runs[0]}; "
                               f"only runs on the same feature store can be compared")
    stores = [open_store(features or ld.config["features"], ld.config, f"run {r}")
              for r, ld in zip(runs, loaded)]
    metrics = []
    for r, ld, store in zip(runs, loaded, stores):
        m = ld.run.current_metrics(split, store.root)
        metrics.append(m or evaluate_run(r, split=split, features=store.root, progress=progress))

    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    assets = tmp / "assets"
    assets.mkdir(parents=True)
    _curves(runs, names, assets / "curves.png")
    _per_class(metrics, names, labels, split, assets / "per_class.png")
    for k, (m, name) in enumerate(zip(metrics, names)):
        _confusion(m, labels, name, assets / f"confusion_{k}.png")

    comparisons = []
    if len(runs) > 1:  # each later run against the first, on the videos they share
        first = read_predictions(runs[0] / f"predictions_{split}.csv")
        comparisons = [compare_correct([first], [read_predictions(r / f"predictions_{split}.csv")],
                                       names=(names[0], n)) for r, n in zip(runs[1:], names[1:])]
    gallery = _gallery(runs, loaded, stores[0], names, assets, videos, split, progress)
    page = _html(runs, loaded, names, metrics, gallery, videos, split, stores[0].root, comparisons)
    (tmp / "index.html").write_text(page)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out / "index.html"


def _gallery(runs, loaded, store, names, assets: Path, videos: int, split: str,
             progress: bool) -> list[dict]:
    cfg0 = loaded[0].config
    source = store.source or Path()
    split_sets = [set(ld.run.split[split]) for ld in loaded]
    ids = sorted(set.intersection(*split_sets))
    if not ids or videos <= 0:
        return []
    entries = [store.entry(i) for i in ids]
    per_run = [run_clips(ld.model, entries, **clip_settings(ld.config)) for ld in loaded]
    first_pred = np.array([video_decision(r.clip_scores, "vote") for r in per_run[0]])
    correct = first_pred == np.array([e.label_index for e in entries])
    chosen = _pick_videos(entries, correct, videos, np.random.default_rng(0))
    labels = cfg0["labels"]
    items = []
    bar = progress_bar(total=len(chosen), desc="report", unit="video", enabled=progress)
    for n, i in enumerate(chosen):
        e = entries[i]
        frames = _display_frames(source / e.meta["path"], cfg0["feature"]["fps"], e.num_frames)
        if frames is None or len(frames) < e.num_frames:
            frames = np.full((e.num_frames, CELL, CELL, 3), 90, np.uint8)
        pick = np.linspace(0, e.num_frames - 1, min(GIF_FRAMES, e.num_frames)).round().astype(int)
        columns, verdicts = [], []
        for k, res in enumerate(per_run):
            att = frame_attention(res[i], e.num_frames)
            pred = video_decision(res[i].clip_scores, "vote")
            verdicts.append((labels[pred], pred == e.label_index,
                             float(res[i].clip_scores.mean(0)[pred])))
            if att is None:  # a model without spatial attention: the frames as it saw them
                panels = [frames[t] for t in pick]
            else:
                att = np.where(np.isnan(att), 1.0 / att[0].size, att)
                panels = [overlay(frames[t], att[t]) for t in pick]
            columns.append(np.stack([_caption(p, names[k].split(" ")[0]) for p in panels]))
            for name in res[i].maps:  # the model's other maps (joint: its energy map)
                m = frame_attention(res[i], e.num_frames, name)
                m = np.where(np.isnan(m), 1.0 / m[0].size, m)
                columns.append(np.stack([_caption(overlay(frames[t], m[t]),
                                                  f"{names[k].split(' ')[0]} {name}")
                                         for t in pick]))
        actor = e.masks()
        if actor is not None:
            columns.append(np.stack([_caption(mask_panel(frames[t], actor[t]), "actor (truth)")
                                     for t in pick]))
        anim = np.concatenate(columns, axis=2)
        gif = assets / f"video_{n:03d}.webp"
        save_animation(gif, anim, fps=max(2.0, len(pick) / 3.0))
        temporal = []
        for k, res in enumerate(per_run):
            if res[i].temporal and res[i].temporal[0] is not None:
                png = assets / f"video_{n:03d}_temporal_{k}.png"
                _temporal(res[i], names[k], png)
                temporal.append(f"assets/{png.name}")
        items.append({"path": e.meta["path"], "label": e.label, "gif": f"assets/{gif.name}",
                      "verdicts": verdicts, "temporal": temporal})
        bar.update(1)
    bar.close()
    return items


def _temporal(result, name: str, path: Path) -> None:
    """The first clip's temporal weights: step t (rows) against the frame it weighs (columns)."""
    plt = _plt()
    w, frames = result.temporal[0], result.frames[0]
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.imshow(w, cmap="magma", aspect="auto", vmin=0)
    ticks = np.linspace(0, len(frames) - 1, min(6, len(frames))).round().astype(int)
    ax.set_xticks(ticks, [str(frames[t]) for t in ticks], fontsize=7)
    ax.set_yticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    ax.set_xlabel("frame weighed", fontsize=8)
    ax.set_ylabel("step", fontsize=8)
    ax.set_title(f"{name.split(' ')[0]}: temporal weights", fontsize=8)
    _save(fig, path)


def _stream_shape(spec: dict) -> tuple:
    return (spec["grid"], spec["grid"], spec["channels"]) if "grid" in spec else (spec["channels"],)


def _fmt(v, pct=True):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{100 * v:.1f}" if pct else f"{v:.3f}"


def _html(runs, loaded, names, metrics, gallery, videos, split, store_root, comparisons) -> str:
    e = html.escape
    rows = [(f"{split} videos", lambda m: str(m["num_videos"])),
            ("clip rule", lambda m: m["clip_rule"]),
            ("video rule", lambda m: m["video_rule"]),
            ("top-1 %", lambda m: _fmt(m["top1"])), ("top-5 %", lambda m: _fmt(m["top5"])),
            ("mean class accuracy %", lambda m: _fmt(m["mean_class_accuracy"])),
            ("clip accuracy %", lambda m: _fmt(m["clip_accuracy"])),
            ("mAP %", lambda m: _fmt(m.get("mAP"))),
            ("attention mass on actor", lambda m: _fmt(m.get("attention", {}).get("mass_in_mask"), False)),
            ("… uniform attention's", lambda m: _fmt(m.get("attention", {}).get("uniform_mass_in_mask"), False)),
            ("pointing (argmax on actor)", lambda m: _fmt(m.get("attention", {}).get("pointing"), False)),
            ("… chance level", lambda m: _fmt(m.get("attention", {}).get("pointing_chance"), False)),
            ("attention entropy (nats)", lambda m: _fmt(m.get("attention", {}).get("entropy"), False)),
            ("checkpoint epoch (by validation)", lambda m: str(m.get("checkpoint_epoch")))]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    table = "".join(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{e(f(m))}</td>" for m in metrics)
                    + "</tr>" for label, f in rows)
    paired = ""
    if comparisons:
        paired = ("<h2>Paired differences</h2><p>Each run against the first on the same "
                  f"{e(split)} videos: accuracy difference with a 95% paired bootstrap interval and "
                  "the exact McNemar test. A difference whose interval holds 0 is not resolved. "
                  "One run each: this counts only the test set's noise, not another seed's split "
                  "or initialization; a claim that one model beats another needs the t-interval "
                  "over 5 seeds (glimpse compare A_1 ... A_5 --vs B_1 ... B_5).</p><table><tr><th>run (B)</th><th>B − A, points</th><th>95% interval</th>"
                  "<th>only A right</th><th>only B right</th><th>McNemar p</th><th></th></tr>")
        for c in comparisons:
            verdict = ("better" if c.diff > 0 else "worse") if c.resolved else "not resolved"
            paired += (f"<tr><td>{e(c.b)}</td><td>{100 * c.diff:+.1f}</td><td>[{100 * c.low:+.1f}, "
                       f"{100 * c.high:+.1f}]</td><td>{c.a_only}</td><td>{c.b_only}</td>"
                       f"<td>{c.p_mcnemar:.3g}</td><td>{verdict}</td></tr>")
        paired += f"</table><p><small>A = {e(comparisons[0].a)}</small></p>"
    configs = ""
    for name, ld, run in zip(names, loaded, runs):
        c = ld.config
        configs += (f"<details><summary>{e(name)}: <code>{e(str(run))}</code></summary>"
                    f"<pre>{e(json.dumps({k: c[k] for k in ('model', 'train', 'feature')}, indent=1))}"
                    f"</pre></details>")
    confusions = "".join(f'<img src="assets/confusion_{k}.png" alt="confusion matrix {e(n)}">'
                         for k, n in enumerate(names))
    cards = ""
    for it in gallery:
        verdict = " · ".join(f'<span class="{"ok" if ok else "bad"}">{e(n.split(" ")[0])}: '
                             f"{e(p)} {s:.2f}</span>" for n, (p, ok, s) in zip(names, it["verdicts"]))
        temporal = "".join(f'<img src="{e(t)}" alt="temporal weights" style="width:220px">'
                           for t in it["temporal"])
        cards += (f'<figure><img src="{e(it["gif"])}" alt="attention on {e(it["path"])}">'
                  f"{'<br>' + temporal if temporal else ''}<figcaption><b>{e(it['label'])}</b> <small>{e(it['path'])}</small><br>{verdict}"
                  f"</figcaption></figure>")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    feature = loaded[0].config["feature"]
    streams = "; ".join(f"{k} {'×'.join(str(v) for v in _stream_shape(spec))}"
                        for ld in loaded[:1] for k, spec in ld.config["model"]["inputs"].items())
    title = "glimpse report: " + " vs ".join(n.split(" ")[0] for n in names)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 9px;text-align:right}}
td:first-child{{text-align:left}}img{{max-width:100%}}
.gallery{{display:flex;flex-wrap:wrap;gap:14px}}figure{{margin:0;border:1px solid #ddd;padding:6px}}
.ok{{color:#11772d}}.bad{{color:#b3261e}}pre{{background:#f6f6f6;padding:8px;font-size:12px}}
small{{color:#666}}
</style></head><body>
<h1>{e(title)}</h1>
<p>{len(runs)} run(s), written {e(when)}. Feature store <code>{e(str(store_root))}</code>
({e(feature['backbone'])}, streams {e(streams)}, {feature['fps']} fps). Models selected on the
validation split; the numbers below are on the <b>{e(split)}</b> split.</p>
<h2>Metrics</h2><table><tr><th></th>{head}</tr>{table}</table>
{paired}
<h2>Configuration</h2>{configs}
<h2>Training</h2><img src="assets/curves.png" alt="training curves">
<h2>Per class</h2><img src="assets/per_class.png" alt="per-class accuracy">
<h2>Confusion</h2><div class="gallery">{confusions}</div>
<h2>Where each model looked</h2>
<p>{len(gallery)} {e(split)} videos (of at most {videos}), correct and wrong for the first run. Each animation shows, left to right,
every run's attention over the frame (brighter = more weight; each frame normalized by its maximum)
and, where the dataset has it, the actor's ground-truth mask. For a model that also weighs the
clip's frames (rstan), a heat map shows the weight each step gave each frame.</p>
<div class="gallery">{cards}</div>
</body></html>
"""
