"""Extraction: decode -> sample -> frozen backbone -> feature store, resumable.

Decoding runs in a background thread and overlaps with the CNN (PyAV releases the GIL), so the
whole extraction runs at about the CNN's own speed. Each video is cut into batches from its own
first frame, so a resumed run computes bit-identical features to an uninterrupted one.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from glimpse.datasets.layouts import label_map, load_dataset
from glimpse.datasets.masks import load_masks, mask_grid
from glimpse.features.backbones import Backbone
from glimpse.features.store import FeatureStore, entry_id, write_json_atomic
from glimpse.progress import progress_bar
from glimpse.video import VideoError, iter_frames

_END = object()


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already in the store
    extracted: int = 0
    frames: int = 0
    failures: dict = field(default_factory=dict)  # relpath -> reason


def feature_spec(backbone: Backbone, *, fps: float, pooled: bool) -> dict:
    """What the store's manifest records; a model trained on one spec refuses another."""
    size = backbone.spec.input_size
    with torch.inference_mode():
        K = backbone(torch.zeros(1, size, size, 3, dtype=torch.uint8)).shape[1]
    return {**backbone.describe(), "fps": fps, "dtype": "float16", "grid": int(K),
            "pooled": bool(pooled)}


def _decode_all(items, fps, size, batch_size, out: queue.Queue, stop: threading.Event):
    """Producer: (item, Batch) for each batch of each video, then (item, _END) or (item, error)."""
    for item in items:
        if stop.is_set():
            return
        try:
            for batch in iter_frames(item.path, fps=fps, size=(size, size), batch_size=batch_size):
                out.put((item, batch))
                if stop.is_set():
                    return
            out.put((item, _END))
        except VideoError as e:
            out.put((item, e.reason))
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the others
            out.put((item, f"{e.__class__.__name__}: {e}"))
    out.put((None, _END))


def extract(data, out, *, backbone: str = "efficientnet_lite0", weights=None, layer=None,
            fps: float = 10.0, batch_size: int = 32, pooled: bool = False, root=None,
            device: str = "cpu", progress: bool = True) -> Summary:
    """Extract every video of ``data`` (folder or list file) into the store ``out``."""
    items, data_root = load_dataset(data, root)
    labels = label_map(items)
    net = Backbone(backbone, weights=weights, layer=layer).to(device)
    spec = feature_spec(net, fps=fps, pooled=pooled)
    store = FeatureStore(out)
    store.create_or_check(spec, list(labels), source=str(Path(data_root).resolve()))
    K, size = spec["grid"], net.spec.input_size

    summary = Summary(total=len(items))
    todo = [it for it in items if not store.has(entry_id(it.relpath))]
    summary.skipped = len(items) - len(todo)
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    producer = threading.Thread(target=_decode_all, args=(todo, fps, size, batch_size, q, stop),
                                daemon=True)
    producer.start()
    bar = progress_bar(total=len(todo), unit="video", desc="extract", enabled=progress)
    parts: dict = {}  # relpath -> lists of per-batch outputs
    try:
        with torch.inference_mode():
            while True:
                item, got = q.get()
                if item is None:
                    break
                acc = parts.setdefault(item.relpath, {"cube": [], "pooled": [], "times": [],
                                                      "index": []})
                if isinstance(got, str):  # a decoding error
                    summary.failures[item.relpath] = got
                    parts.pop(item.relpath, None)
                    bar.update(1)
                    continue
                if got is _END:
                    _finish(store, item, parts.pop(item.relpath), labels, K)
                    summary.extracted += 1
                    bar.update(1)
                    continue
                x = torch.from_numpy(got.frames).to(device)
                if pooled:
                    cube, vec = net(x, pooled=True)
                    acc["pooled"].append(vec.float().cpu().numpy().astype(np.float16))
                else:
                    cube = net(x)
                acc["cube"].append(cube.float().cpu().numpy().astype(np.float16))
                acc["times"].append(got.times)
                acc["index"].append(got.indices)
                summary.frames += len(got.times)
                bar.set_postfix(frames=summary.frames, refresh=False)
    finally:
        stop.set()
        bar.close()
    write_json_atomic(Path(out) / "failures.json", summary.failures)
    return summary


def _finish(store: FeatureStore, item, acc: dict, labels: dict, K: int) -> None:
    cube = np.concatenate(acc["cube"])
    index = np.concatenate(acc["index"])
    masks = None
    if item.mask_path is not None:
        full = load_masks(item.mask_path)
        masks = mask_grid(full[np.clip(index, 0, len(full) - 1)], K)
    meta = {"path": item.relpath, "label": item.label, "label_index": labels[item.label],
            "group": item.group, "frames": int(cube.shape[0]),
            "times": [round(float(t), 6) for t in np.concatenate(acc["times"])],
            "source_frames": [int(i) for i in index]}
    pooled = np.concatenate(acc["pooled"]) if acc["pooled"] else None
    store.write_entry(entry_id(item.relpath), meta, cube, pooled=pooled, masks=masks)
