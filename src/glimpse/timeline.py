"""What happens when in a long video: windows slid over one prediction pass, each with its top
classes and where the model looked; a timeline image and an HTML page with the video.

A window of ``length`` seconds every ``stride`` seconds (default: one clip's span and half of
it) scores the mean of the clips whose middle frame falls inside it; its attention is the mean
per-frame attention over its frames. The clips come from the one streaming pass of ``predict``
(features streamed to a temporary store on disk), so memory stays flat in the video's length.
With a multi-label run, windows whose class score reaches ``threshold`` are joined into
detected segments per class.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from glimpse.io import write_json_atomic, write_text_atomic


def clip_span(pred: dict) -> float:
    """Seconds one clip covers (the default window)."""
    times = np.asarray(pred["times"])
    first, last = pred["clip_frames"][0]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.1
    return float(times[last] - times[first]) + step


def windows(pred: dict, labels: list[str], *, length: float | None = None,
            stride: float | None = None, top_k: int = 3) -> list[dict]:
    """The windows of a prediction (``predict``'s dict): start and end in seconds, the clips
    in it, its top-k classes with their mean scores, its most attended cell."""
    times = np.asarray(pred["times"], float)
    length = length or clip_span(pred)
    stride = stride or length / 2
    mids = np.array([times[(a + b) // 2] for a, b in pred["clip_frames"]])
    scores = np.asarray(pred["clip_scores"])
    att = pred["attention"]
    out, start, end_of_video = [], float(times[0]), float(times[-1])
    while True:
        end = start + length
        inside = np.flatnonzero((mids >= start) & (mids < end))
        if len(inside):
            mean = scores[inside].mean(0)
            order = np.argsort(-mean)[:top_k]
            w = {"start": round(start, 3), "end": round(min(end, end_of_video), 3),
                 "clips": int(len(inside)),
                 "top": [(labels[i], round(float(mean[i]), 4)) for i in order],
                 "scores": [round(float(x), 4) for x in mean]}
            if att is not None:
                frames = np.flatnonzero((times >= start) & (times < end))
                a = np.nanmean(att[frames], 0) if len(frames) else None
                if a is not None and np.isfinite(a).all():
                    r, c = divmod(int(np.argmax(a)), a.shape[1])
                    w["looked_at"] = {"row": r, "col": c, "weight": round(float(a.max()), 4)}
            out.append(w)
        if end >= end_of_video:
            return out
        start += stride


def segments(wins: list[dict], labels: list[str], threshold: float) -> list[dict]:
    """Per class, runs of consecutive windows whose score reaches ``threshold``, joined."""
    found = []
    for c, name in enumerate(labels):
        run = None
        for w in wins:
            if w["scores"][c] >= threshold:
                if run and w["start"] <= run["end"]:
                    run["end"], run["score"] = w["end"], max(run["score"], w["scores"][c])
                else:
                    run = {"label": name, "start": w["start"], "end": w["end"],
                           "score": w["scores"][c]}
                    found.append(run)
            else:
                run = None
    return sorted(found, key=lambda s: (s["start"], s["label"]))


def top_runs(wins: list[dict], labels: list[str]) -> list[dict]:
    """The video as stretches of one top class: runs of consecutive windows whose highest score
    is the same class, joined (``label``, ``start``, ``end`` in seconds)."""
    runs: list[dict] = []
    for w in wins:
        name = labels[int(np.argmax(w["scores"]))]
        if runs and runs[-1]["label"] == name and w["start"] <= runs[-1]["end"]:
            runs[-1]["end"] = w["end"]
        else:
            runs.append({"label": name, "start": w["start"], "end": w["end"]})
    return runs


def class_colours(labels: list[str]) -> dict:
    """A colour per class (tab10, then tab20 beyond 10 classes), in label order."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(labels)}


def timeline_image(path: Path, wins: list[dict], labels: list[str]) -> tuple[float, float]:
    """Classes against time, read at a glance: on top, the video as stretches of its top class
    coloured by class with a legend; below, each window's class scores as a column (a colour
    bar for the score), its top class marked (rings while they stay apart, a step line when the
    windows are too many to ring); -> the time axis's left and right ends as fractions of the
    image's width, where timeline.html places its cursor (the two plots share it)."""
    from matplotlib.patches import Patch

    from glimpse.viz.report import _plt

    plt = _plt()
    S = np.array([w["scores"] for w in wins]).T  # (C, windows)
    starts = [w["start"] for w in wins]
    ends = [w["end"] for w in wins]
    fig, (top, ax) = plt.subplots(2, 1, figsize=(10, 0.35 * len(labels) + 2.0), dpi=90,
                                  sharex=True, height_ratios=[1, max(2, len(labels))])
    colours = class_colours(labels)
    runs = top_runs(wins, labels)
    for r in runs:
        top.axvspan(r["start"], r["end"], color=colours[r["label"]], lw=0)
    top.set(yticks=[], xlim=(starts[0], ends[-1]), title="top class over time")
    shown = list(dict.fromkeys(r["label"] for r in runs))
    top.legend(handles=[Patch(color=colours[n], label=n) for n in shown], loc="upper left",
               bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    extent = (starts[0], ends[-1], len(labels) - 0.5, -0.5)
    image = ax.imshow(S, aspect="auto", cmap="viridis", vmin=0, vmax=1, extent=extent,
                      interpolation="nearest")
    centres = [(s + e) / 2 for s, e in zip(starts, ends)]
    if len(wins) <= 40:
        ax.plot(centres, S.argmax(0), "o", mfc="none", mec="white", ms=5, label="top class")
    else:  # rings this close merge into a dotted band: the top class as a line instead
        ax.step(centres, S.argmax(0), where="mid", color="white", lw=1, label="top class")
    ax.set(yticks=range(len(labels)), yticklabels=labels, xlabel="seconds")
    fig.colorbar(image, ax=ax, label="class score", fraction=0.03, pad=0.01)
    fig.tight_layout()
    box = ax.get_position()
    top_box = top.get_position()  # the strip spans the same seconds as the scores
    top.set_position([box.x0, top_box.y0, box.width, top_box.height])
    fig.savefig(path)
    plt.close(fig)
    return float(box.x0), float(box.x1)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1000px}}
#line{{position:relative}} #cursor{{position:absolute;top:0;bottom:0;width:2px;background:red}}
table{{border-collapse:collapse;font-size:13px}} td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}
tr.now{{background:#ffe9a8}}</style></head><body>
<h2>{title}</h2>
<video id="video" src="{video}" controls muted width="480"></video>
<div id="line"><img id="timeline" src="timeline.png" alt="classes against time" width="900">
<div id="cursor"></div></div>
<table><tr><th>from (s)</th><th>to (s)</th><th>top classes</th><th>looked at (row, col)</th></tr>
{rows}</table>
<script>
const wins = {wins};
const video = document.getElementById("video");
const img = document.getElementById("timeline");
const cursor = document.getElementById("cursor");
const t0 = wins[0].start, t1 = wins[wins.length - 1].end;
const axis = {axis};  // the time axis's ends, as fractions of the image's width
function sync() {{
  const t = video.currentTime + t0;
  const x = axis[0] + (axis[1] - axis[0]) * (t - t0) / Math.max(t1 - t0, 1e-9);
  cursor.style.left = (img.clientWidth * x) + "px";
  document.querySelectorAll("tr.w").forEach((row, k) => {{
    row.classList.toggle("now", wins[k].start <= t && t < wins[k].end);
  }});
}}
video.addEventListener("timeupdate", sync);
img.addEventListener("load", sync);
if (img.complete) sync();  // the image may have loaded before this script ran
</script></body></html>
"""


def _csv(wins: list[dict], labels: list[str]) -> str:
    """A row a window: start, end, clips, its top class and every class's mean score."""
    import csv
    import io

    f = io.StringIO()
    w = csv.writer(f)
    w.writerow(["start", "end", "clips", "top", *labels])
    for x in wins:
        w.writerow([x["start"], x["end"], x["clips"], x["top"][0][0], *x["scores"]])
    return f.getvalue()


def write_timeline(out: Path, video, pred: dict, wins: list[dict], labels: list[str], *,
                   threshold: float | None = None) -> dict:
    """timeline.json (with ``labels``, the class each entry of a window's ``scores`` is),
    timeline.csv (a row a window: start, end, clips, its top class, every class's score),
    timeline.png, the attention overlay (overlay.webm) and timeline.html in ``out``; -> what the
    JSON holds."""
    from glimpse.viz.animate import write_overlay

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"video": str(video), "model": pred["model"], "label": pred["label"],
           "labels": list(labels), "windows": wins}
    if pred.get("multilabel") and threshold is not None:
        doc["segments"] = segments(wins, labels, threshold)
    write_json_atomic(out / "timeline.json", doc)
    write_text_atomic(out / "timeline.csv", _csv(wins, labels))
    axis = timeline_image(out / "timeline.png", wins, labels)
    write_overlay(out / "overlay.webm", video, pred)
    rows = "\n".join(
        f'<tr class="w"><td>{w["start"]:.1f}</td><td>{w["end"]:.1f}</td><td>'
        + ", ".join(f"{html.escape(n)} {s:.2f}" for n, s in w["top"]) + "</td><td>"
        + (f'{w["looked_at"]["row"]}, {w["looked_at"]["col"]}' if "looked_at" in w else "–")
        + "</td></tr>" for w in wins)
    write_text_atomic(out / "timeline.html", PAGE.format(
        title=html.escape(f"{Path(str(video)).name}: what happens when ({pred['model']})"),
        video="overlay.webm", rows=rows, axis=json.dumps([round(x, 4) for x in axis]),
        wins=json.dumps([{"start": w["start"], "end": w["end"]} for w in wins])))
    return doc
