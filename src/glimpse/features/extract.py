"""Extraction: decode -> sample -> frozen backbone -> feature store, streamed and resumable.

``Featurizer`` turns one video into its streams, batch by batch, straight into an entry being
written on disk; ``extract`` (a dataset into a store) and ``predict`` (one new video) both use
it, so a prediction sees exactly the features training saw. Memory does not grow with a video's
length: at most a few batches of frames and features are held at once.

Decoding runs in a background thread and overlaps with the CNN (PyAV releases the GIL), so
extraction runs at about the CNN's own speed. Each video is cut into batches from its own first
frame, so a resumed run computes bit-identical features to an uninterrupted one.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from glimpse import GlimpseError
from glimpse.datasets.layouts import label_map, load_dataset
from glimpse.datasets.masks import ActorMasks, mask_grid
from glimpse.features.backbones import Backbone
from glimpse.features.store import (
    EntryWriter,
    FeatureStore,
    entry_id,
    write_json_atomic,
)
from glimpse.progress import progress_bar
from glimpse.video import IMAGE_FPS, VideoError, iter_frames

POOLED = "rgb_pooled"
LEVEL2 = "rgb_level2"
STREAMS = ("rgb", POOLED, LEVEL2, "flow")


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already in the store
    extracted: int = 0
    frames: int = 0
    failures: dict = field(default_factory=dict)  # relpath -> reason


def prefetched(items: Iterator, depth: int = 2) -> Iterator:
    """Run the iterator ``items`` in a background thread, ``depth`` items ahead of the consumer;
    its exceptions are raised in the consumer. Leaving early stops the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(msg) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            for x in items:
                if not put(("item", x)):
                    break
            else:
                put(("end", None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(("error", e))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while True:
            kind, x = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        stop.set()
        thread.join(timeout=5)


class Featurizer:
    """The frozen backbone and the streams it makes from a video's sampled frames.

    ``streams``: ``rgb`` (T, K, K, D) cubes, ``rgb_pooled`` (T, D) their spatial means,
    ``rgb_level2`` (T, K, K, D2) an earlier layer of the same pass (the backbone's stride-16
    stage; VGG16: pool4) average-pooled to the same K x K grid (paper 003's second level),
    ``flow`` (T, K, K, D) the backbone's cubes of the optical-flow image between each sampled
    frame and the next decoded one (``glimpse.features.flow``).
    """

    def __init__(self, backbone: str = "efficientnet_lite0", *, weights=None, layer=None,
                 fps: float = 10.0, streams=("rgb",), batch_size: int = 32, device: str = "cpu",
                 image_fps: float = IMAGE_FPS, flow_preset: str = "medium"):
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown:
            raise GlimpseError(f"unknown stream(s) {', '.join(unknown)}; choose from "
                               f"{', '.join(STREAMS)}")
        self.flow = None
        if "flow" in streams:
            from glimpse.features.flow import FlowImages

            self.flow = FlowImages(flow_preset)
        self.net = Backbone(backbone, weights=weights, layer=layer,
                            level2=LEVEL2 in streams).to(device)
        self.fps, self.streams, self.batch_size, self.device = fps, tuple(streams), batch_size, device
        self.image_fps = image_fps  # the rate of a folder of frame images
        self.size = self.net.spec.input_size
        with torch.inference_mode():
            probe = self.net.body(self.net.preprocess(
                torch.zeros(1, self.size, self.size, 3, dtype=torch.uint8)))
        self.grid = int(probe[self.net.layer].shape[-1])
        self.level2_grid = int(probe[self.net.level2].shape[-1]) if self.net.level2 else None

    @classmethod
    def for_run(cls, feature: dict, inputs: dict, *, weights=None, device="cpu") -> "Featurizer":
        """The featurizer that reproduces a run's features (``feature``: the store's shared spec;
        ``inputs``: the streams its model reads). Other backbone weights are refused."""
        layer = next(v["layer"] for k, v in inputs.items() if k != LEVEL2)
        preset = inputs.get("flow", {}).get("flow", {}).get("preset", "medium")
        f = cls(feature["backbone"], weights=weights, layer=layer, fps=feature["fps"],
                streams=tuple(inputs), device=device, flow_preset=preset)
        digest = f.feature["weights_digest"]
        if digest != feature["weights_digest"]:
            raise GlimpseError(f"the backbone weights ({digest}) are not the ones the run was "
                               f"trained on ({feature['weights_digest']}); pass the same --weights "
                               f"file")
        return f

    @property
    def feature(self) -> dict:
        """What the store's manifest records for all streams; a run refuses other features."""
        d = self.net.describe()
        return {"backbone": d["backbone"], "input_size": d["input_size"],
                "weights_digest": d["weights_digest"], "fps": self.fps, "dtype": "float16"}

    @property
    def stream_specs(self) -> dict:
        d = self.net.describe()
        specs = {"rgb": {"layer": d["layer"], "channels": d["channels"], "grid": self.grid},
                 POOLED: {"layer": d["layer"], "channels": d["channels"], "pooled": "spatial mean"}}
        if self.flow is not None:
            specs["flow"] = {**specs["rgb"], "flow": self.flow.describe()}
        if self.net.level2:
            specs[LEVEL2] = {**self.net.describe_level2(), "grid": self.grid,
                             "resampled_from": self.level2_grid}
        return {s: specs[s] for s in self.streams}

    def _frames(self, path):
        """The sampled frames of ``path`` in batches; any decoding failure is a VideoError."""
        try:
            yield from iter_frames(path, fps=self.fps, size=(self.size, self.size),
                                   batch_size=self.batch_size, image_fps=self.image_fps,
                                   pairs=self.flow is not None)
        except VideoError:
            raise
        except Exception as e:  # noqa: BLE001 - a bad file must read as a bad file
            raise VideoError(path, f"{e.__class__.__name__}: {e}") from None

    @torch.inference_mode()
    def featurize(self, path, writer: EntryWriter, *, masks: ActorMasks | None = None,
                  on_frames: Callable[[int], None] | None = None) -> dict:
        """Stream ``path`` through decode -> CNN into ``writer`` (every stream, plus K x K actor
        masks when given); returns the meta fields ``frames``, ``times``, ``source_frames``."""
        times, index = [], []
        for b in prefetched(self._frames(path)):
            out = self.net.levels(torch.from_numpy(b.frames).to(self.device))
            for name, key in (("rgb", "cube"), (POOLED, "pooled"), (LEVEL2, "level2")):
                if name in self.streams:
                    writer.append(name, out[key].float().cpu().numpy())
            if self.flow is not None:
                images = torch.from_numpy(self.flow(b.frames, b.next_frames)).to(self.device)
                writer.append("flow", self.net(images).float().cpu().numpy())
            if masks is not None:
                writer.append("masks", mask_grid(masks.frames(b.indices), self.grid))
            times.extend(round(float(t), 6) for t in b.times)
            index.extend(int(i) for i in b.indices)
            if on_frames:
                on_frames(len(b.times))
        meta = {"frames": len(times), "times": times, "source_frames": index}
        if Path(path).is_dir():
            meta["image_fps"] = self.image_fps
        return meta


def shard_items(items: list, shard: tuple[int, int] | None) -> list:
    """The I-th of N disjoint parts of a dataset: every N-th video of the sorted list from the
    I-th on (deterministic; classes spread evenly over the shards)."""
    if shard is None:
        return items
    i, n = shard
    if not 0 <= i < n:
        raise GlimpseError(f"--shard I/N needs 0 <= I < N, got {i}/{n}")
    return sorted(items, key=lambda it: it.relpath)[i::n]


def extract(data, out, *, backbone: str = "efficientnet_lite0", weights=None, layer=None,
            fps: float = 10.0, batch_size: int = 32, pooled: bool = False, root=None,
            device: str = "cpu", shard: tuple[int, int] | None = None,
            image_fps: float = IMAGE_FPS, streams=("rgb",), flow_preset: str = "medium",
            levels: int = 1, progress: bool = True) -> Summary:
    """Extract every video of ``data`` (folder or list file) into the store ``out``; with
    ``shard = (I, N)`` only the I-th of N disjoint parts, so N processes or machines can fill one
    store (on a shared filesystem) or N stores that ``FeatureStore.merge_from`` joins."""
    all_items, data_root = load_dataset(data, root)
    labels = label_map(all_items)  # from the whole dataset, so every shard agrees
    items = shard_items(all_items, shard)
    if levels not in (1, 2):
        raise GlimpseError(f"--levels must be 1 or 2, got {levels}")
    streams = tuple(dict.fromkeys([*streams, *([POOLED] if pooled else []),
                                   *([LEVEL2] if levels == 2 else [])]))
    fz = Featurizer(backbone, weights=weights, layer=layer, fps=fps, streams=streams,
                    batch_size=batch_size, device=device, image_fps=image_fps,
                    flow_preset=flow_preset)
    store = FeatureStore(out)
    store.create_or_check(fz.feature, fz.stream_specs, list(labels),
                          source=str(Path(data_root).resolve()))

    summary = Summary(total=len(items))
    store.clean_stale(None if shard is None else [entry_id(it.relpath) for it in items])
    todo = [it for it in items if not store.has(entry_id(it.relpath))]
    summary.skipped = len(items) - len(todo)
    bar = progress_bar(total=len(todo), unit="video", desc="extract", enabled=progress)

    def count(n):
        summary.frames += n
        bar.set_postfix(frames=summary.frames, refresh=False)

    try:
        for item in todo:
            try:
                with store.writer(entry_id(item.relpath)) as w:
                    masks = ActorMasks(item.mask_path) if item.mask_path is not None else None
                    meta = fz.featurize(item.path, w, masks=masks, on_frames=count)
                    w.commit({"path": item.relpath, "label": item.label,
                              "label_index": labels[item.label], "group": item.group, **meta})
                summary.extracted += 1
            except VideoError as e:
                summary.failures[item.relpath] = e.reason
            bar.update(1)
    finally:
        bar.close()
    name = "failures.json" if shard is None else f"failures-shard-{shard[0]}-of-{shard[1]}.json"
    write_json_atomic(Path(out) / name, summary.failures)
    return summary
