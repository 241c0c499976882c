"""Extraction: decode -> sample -> frozen backbone -> feature store, streamed and resumable.

``Featurizer`` turns one video into its streams, batch by batch, straight into an entry being
written on disk; ``extract`` (a dataset into a store) and ``predict`` (one new video) both use
it, so a prediction sees exactly the features training saw. Memory does not grow with a video's
length: at most a few batches of frames and features are held at once.

Decoding runs in a background thread (or ``workers`` processes) and overlaps with the CNN (PyAV
releases the GIL), so extraction runs at about the CNN's own speed. Each video is cut into
batches from its own first frame, so a resumed run computes bit-identical features to an
uninterrupted one.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.allocator import bounded_reuse, share_main_arena
from glimpse.amp import autocast, check_amp
from glimpse.config import IMAGE_FPS, STREAM_NAMES, ExtractConfig
from glimpse.datasets.layouts import label_map, load_dataset, read_label_file
from glimpse.datasets.masks import ActorMasks, mask_grid
from glimpse.features.backbones import Backbone
from glimpse.features.crops import SCALE, cut, cut_masks, flow_u_channels, layout
from glimpse.features.store import (
    EntryWriter,
    FeatureStore,
    WriteBehind,
    entry_id,
    write_json_atomic,
)
from glimpse.progress import progress_bar
from glimpse.video import Batch, VideoError, iter_frames

STREAMS = STREAM_NAMES  # rgb, rgb_pooled, rgb_level2, flow
POOLED, LEVEL2 = STREAMS[1], STREAMS[2]


@dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already in the store
    extracted: int = 0
    frames: int = 0
    failures: dict = field(default_factory=dict)  # relpath -> reason
    missing: list = field(default_factory=list)  # annotated videos not found (--format)


def _to_device(array: np.ndarray, device) -> torch.Tensor:
    """A decoded batch to the backbone's device: on a GPU through pinned memory, without
    blocking (the copy overlaps the previous batch's kernels); on the CPU as it is."""
    t = torch.from_numpy(array)
    if torch.device(device).type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def _stored(cube: torch.Tensor) -> np.ndarray:
    """A stream's batch as the store keeps it (float16, ``store.NpyAppender``), converted by torch
    where it was computed: numpy's float32 -> float16 is ~13x slower on a CPU, and a device sends
    half the bytes."""
    return cube.to(torch.float16).cpu().numpy()


def _now(fn: Callable, *args) -> None:
    fn(*args)


class Lanes:
    """The CNN in ``count`` lanes side by side: on a CPU with at least ``count`` of torch's
    threads, each lane is a thread of its own with an equal share of them (2 cores: two lanes of
    one thread each), and extraction splits each batch across the lanes (two halves of 16
    frames at batch 32), instead of running one batch at a time across all the threads.

    One batch across two threads meets a barrier after every operator; whenever decoding or the
    file work takes one of the cores, the other thread waits at it (spinning), so their few CPU
    seconds cost the CNN twice that in wall time. Two lanes share no barrier, and a batch on one
    thread wastes less in splitting work: on 4,000 frames the CNN alone ran 101.4 -> 108.8
    frames/s on 2 cores (docs/benchmarks.md). A part's numbers depend on its own thread count
    and size, not on what runs beside it: the same bits as that part alone on one thread
    (tested), and a resumed extraction matches an uninterrupted one; against whole batches on
    two threads, ~0.2% of the float16 values differ in the last bit.

    ``lanes(fn, *args)`` starts ``fn(*args)`` in a lane and returns a callable that waits for its
    result (raising what it raised); results are collected in the order the caller chooses.
    Inside the block torch's thread count is the lanes' share; it is put back on leaving. On a
    GPU, with too few threads, or where the lanes' threads would not share the main thread's
    malloc arena (``allocator.share_main_arena``: glibc, set when glimpse was imported before
    any other thread started; else every batch is faulted in again), there is one lane: ``fn``
    runs at once, in the caller."""

    def __init__(self, device: str = "cpu", count: int = 2):
        self.count = count if (count > 1 and torch.device(device).type == "cpu"
                               and torch.get_num_threads() >= count and share_main_arena()) else 1
        self._pool: ThreadPoolExecutor | None = None
        self._threads = 0

    def __enter__(self) -> Lanes:
        if self.count > 1:
            self._threads = torch.get_num_threads()
            torch.set_num_threads(self._threads // self.count)
            self._pool = ThreadPoolExecutor(self.count, thread_name_prefix="glimpse-cnn")
        return self

    def __call__(self, fn: Callable, *args) -> Callable[[], object]:
        if self._pool is None:
            result = fn(*args)
            return lambda: result
        return self._pool.submit(fn, *args).result

    def split(self, fn: Callable, frames: np.ndarray, flow_images: np.ndarray | None,
              *args) -> list[Callable[[], object]]:
        """``fn(part of frames, same part of flow_images, *args)`` for one part of the batch in
        each lane: in flight at once, the frames of one batch, as with one lane."""
        step = -(-len(frames) // self.count)
        return [self(fn, frames[i:i + step],
                     None if flow_images is None else flow_images[i:i + step], *args)
                for i in range(0, len(frames), step)]

    def __exit__(self, *_) -> bool:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            torch.set_num_threads(self._threads)
        return False


ONE_LANE = Lanes(count=1)  # the CNN at once, in the caller (where no Lanes is given)


def _append_all(writer: EntryWriter, parts: list[Callable[[], list]]) -> None:
    """Each part's chunks, in the order of the parts (a batch's lanes)."""
    for part in parts:
        for name, array in part():
            writer.append(name, array)


def _append_grid(writer: EntryWriter, name: str, masks: np.ndarray, grid: int) -> None:
    writer.append(name, mask_grid(masks, grid))


class Featurizer:
    """The frozen backbone and the streams it makes from a video's sampled frames.

    ``streams``: ``rgb`` (T, K, K, D) cubes, ``rgb_pooled`` (T, D) their spatial means,
    ``rgb_level2`` (T, K, K, D2) an earlier layer of the same pass (the backbone's stride-16
    stage; VGG16: pool4) average-pooled to the same K x K grid (paper 003's second level),
    ``flow`` (T, K, K, D) the backbone's cubes of the optical-flow image between each sampled
    frame and the next decoded one (``glimpse.features.flow``), or, with ``flow_weights``, the
    user's flow network's cubes of the L stacked fields from each sampled frame on
    (``glimpse.features.flownet``).
    """

    def __init__(self, backbone: str = "efficientnet_lite0", *, weights=None, layer=None,
                 fps: float = 10.0, streams=("rgb",), batch_size: int = 32, device: str = "cpu",
                 image_fps: float = IMAGE_FPS, flow_preset: str = "medium",
                 flow_weights=None, flow_stack: int | None = None, amp: str = "off",
                 crops: int = 0, crop_scale: float = SCALE):
        check_amp(amp, device)
        self.amp = amp  # the backbone under autocast (recorded in the store's feature spec)
        unknown = sorted(set(streams) - set(STREAMS))
        if unknown:
            raise GlimpseError(f"unknown stream(s) {', '.join(unknown)}; choose from "
                               f"{', '.join(STREAMS)}")
        self.flow = self.flownet = None
        if "flow" in streams:
            from glimpse.features.flow import FlowImages

            self.flow = FlowImages(flow_preset)
            if flow_weights is not None:
                from glimpse.features.flownet import FlowNet

                self.flownet = FlowNet(flow_weights, flow_stack).to(device)
        if (flow_weights is not None or flow_stack is not None) and self.flownet is None:
            raise GlimpseError("--flow-weights / --flow-stack need the flow stream "
                               "(--streams ...,flow)")
        self.net = Backbone(backbone, weights=weights, layer=layer,
                            level2=LEVEL2 in streams).to(device)
        self.described = self.net.describe()  # hashes the weights file: once, not per use
        self.flow_described = None if self.flow is None else {
            **self.flow.describe(),
            **({"image": "u, v stacked", **self.flownet.describe()} if self.flownet else {})}
        self.fps, self.streams, self.batch_size, self.device = fps, tuple(streams), batch_size, device
        self.image_fps = image_fps  # the rate of a folder of frame images
        self.size = self.net.spec.input_size
        with torch.inference_mode():
            probe = self.net.body(self.net.preprocess(
                torch.zeros(1, self.size, self.size, 3, dtype=torch.uint8)))
        self.grid = int(probe[self.net.layer].shape[-1])
        self.level2_grid = int(probe[self.net.level2].shape[-1]) if self.net.level2 else None
        # spatial test crops: frames decoded larger, each crop a window at the input size
        self.crops = layout(crops, self.size, crop_scale) if crops else None

    @classmethod
    def for_run(cls, feature: dict, inputs: dict, *, weights=None, flow_weights=None,
                device="cpu") -> Featurizer:
        """The featurizer that reproduces a run's features (``feature``: the store's shared spec;
        ``inputs``: the streams its model reads). Other backbone weights, or features this
        version would compute differently, are refused."""
        flow = inputs.get("flow", {}).get("flow", {})
        layer = next((v["layer"] for k, v in inputs.items()
                      if k != LEVEL2 and not (k == "flow" and flow.get("network"))), None)
        if flow.get("network") and flow_weights is None:
            raise GlimpseError(f"the run reads flow from a {flow['network']} flow network "
                               f"(weights {flow['weights_digest']}): pass its --flow-weights file")
        f = cls(feature["backbone"], weights=weights, layer=layer, fps=feature["fps"],
                streams=tuple(inputs), device=device, flow_preset=flow.get("preset", "medium"),
                flow_weights=flow_weights if flow.get("network") else None,
                amp=feature.get("amp", "off"))
        digest = f.feature["weights_digest"]
        if digest != feature["weights_digest"]:
            raise GlimpseError(f"the backbone weights ({digest}) are not the ones the run was "
                               f"trained on ({feature['weights_digest']}); pass the same --weights "
                               f"file")
        if f.feature != feature or f.stream_specs != inputs:
            raise GlimpseError(f"this glimpse featurizes {f.stream_specs} but the run was trained "
                               f"on {inputs}")
        return f

    @property
    def feature(self) -> dict:
        """What the store's manifest records for all streams; a run refuses other features."""
        d = self.described
        spec = {"backbone": d["backbone"], "input_size": d["input_size"],
                "weights_digest": d["weights_digest"], "fps": self.fps, "dtype": "float16"}
        if "mean" in d:  # a backbone by name: its preprocessing, recorded
            spec.update(mean=d["mean"], std=d["std"])
        return spec if self.amp == "off" else {**spec, "amp": self.amp}

    @property
    def stream_specs(self) -> dict:
        d = self.described
        specs = {"rgb": {"layer": d["layer"], "channels": d["channels"], "grid": self.grid},
                 POOLED: {"layer": d["layer"], "channels": d["channels"], "pooled": "spatial mean"}}
        if self.flownet is not None:
            specs["flow"] = {"layer": "layer4", "channels": self.flownet.channels,
                             "grid": self.grid, "flow": self.flow_described}
        elif self.flow is not None:
            specs["flow"] = {**specs["rgb"], "flow": self.flow_described}
        if self.net.level2:
            specs[LEVEL2] = {**self.net.describe_level2(), "grid": self.grid,
                             "resampled_from": self.level2_grid}
        return {s: specs[s] for s in self.streams}

    @property
    def decoder(self) -> Decoder:
        return Decoder(fps=self.fps, size=self.crops.side if self.crops else self.size,
                       batch_size=self.batch_size,
                       image_fps=self.image_fps,
                       flow_preset=self.flow.preset if self.flow is not None else None,
                       flow_stack=self.flownet.stack if self.flownet is not None else None)

    @torch.inference_mode()
    def frame_streams(self, frames: np.ndarray) -> dict[str, torch.Tensor]:
        """uint8 (B, H, W, 3) frames -> the streams of one backbone pass this featurizer makes
        (rgb, rgb_pooled, rgb_level2; not flow), each (B, ...) on its device."""
        with autocast(self.amp, self.device):
            out = self.net.levels(_to_device(frames, self.device))
        return {name: out[key] for name, key in (("rgb", "cube"), (POOLED, "pooled"),
                                                 (LEVEL2, "level2")) if name in self.streams}

    def write_batch(self, writer: EntryWriter, b: Batch, flow_images: np.ndarray | None,
                    masks: ActorMasks | None, run: Callable = _now,
                    lanes: Lanes | None = None) -> None:
        """One decoded batch (and its flow images) -> every stream's chunk, plus the K x K actor
        masks when given; with crops, each crop's as ``<stream>@<crop>``, one crop at a time.
        The CNN runs through ``lanes`` (here by default, or a ``Lanes``'s threads); the file
        work (appends, mask grids) through ``run(fn, *args)``: at once by default, or a
        ``store.WriteBehind``, whose thread waits for each batch's CNN in order."""
        lanes = lanes or ONE_LANE
        if self.crops is None:
            return self._write(writer, b.frames, flow_images,
                               None if masks is None else masks.frames(b.indices), run, lanes)
        side, size = self.crops.side, self.crops.size
        u = flow_u_channels(self.flownet.stack if self.flownet is not None else None)
        full = None if masks is None else masks.frames(b.indices)
        for crop in self.crops.crops:
            self._write(writer, cut(b.frames, crop, size),
                        None if flow_images is None else cut(flow_images, crop, size, u),
                        None if full is None else cut_masks(full, crop, size, side), run,
                        lanes, suffix=f"@{crop.name}")

    def _write(self, writer: EntryWriter, frames: np.ndarray, flow_images: np.ndarray | None,
               masks: np.ndarray | None, run: Callable, lanes: Lanes,
               suffix: str = "") -> None:
        run(_append_all, writer, lanes.split(self.chunks, frames, flow_images, suffix))
        if masks is not None:
            run(_append_grid, writer, "masks" + suffix, masks, self.grid)

    @torch.inference_mode()
    def chunks(self, frames: np.ndarray, flow_images: np.ndarray | None,
               suffix: str = "") -> list[tuple[str, np.ndarray]]:
        """The CNN's part of a batch: (stream + suffix, its chunk as the store keeps it) for
        every stream, the flow images' pass included."""
        out = [(name + suffix, _stored(cube)) for name, cube in self.frame_streams(frames).items()]
        if self.flow is not None:
            images = _to_device(flow_images, self.device)
            with autocast(self.amp, self.device):
                cube = self.flownet(images, self.grid) if self.flownet is not None else \
                    self.net(images)
            out.append(("flow" + suffix, _stored(cube)))
        return out

    def featurize(self, path, writer: EntryWriter, *, masks: ActorMasks | None = None,
                  on_batch: Callable[[int, int | None], None] | None = None) -> dict:
        """Stream one video through decode (in a thread) -> CNN into ``writer``; returns the meta
        fields ``frames``, ``times``, ``source_frames``. ``on_batch(frames, declared)`` after
        each batch: its frames and the source's declared frame count (None: unknown)."""
        meta = VideoMeta(path, self.image_fps)
        # no page-fault churn, memory flat in the video's length; the CNN in lanes as extract
        # runs it (the same bits as the store's features where the thread counts match)
        with bounded_reuse() as tick, Lanes(self.device) as lanes:
            for kind, _, payload in _messages(self.decoder, [path], workers=1):
                if kind == "batch":
                    b, flow_images = payload
                    self.write_batch(writer, b, flow_images, masks, lanes=lanes)
                    meta.add(b)
                    tick()
                    if on_batch is not None:
                        on_batch(len(b.times), b.declared)
                elif kind == "error":
                    raise VideoError(path, payload)
                elif kind == "fatal":
                    raise payload
        return meta.fields()


class VideoMeta:
    """The per-frame fields of an entry's meta.json, gathered batch by batch."""

    def __init__(self, path, image_fps: float):
        self.path, self.image_fps = Path(path), image_fps
        self.times: list[float] = []
        self.index: list[int] = []
        self.counts: tuple = (None, None)  # (decoded, declared), from the last batch

    def add(self, b: Batch) -> None:
        self.times.extend(round(float(t), 6) for t in b.times)
        self.index.extend(int(i) for i in b.indices)
        if b.decoded is not None:
            self.counts = (b.decoded, b.declared)

    def fields(self) -> dict:
        meta = {"frames": len(self.times), "times": self.times, "source_frames": self.index}
        decoded, declared = self.counts
        if declared and declared != decoded:  # a header off by a few frames, accepted
            meta["decoded_frames"], meta["declared_frames"] = decoded, declared
        if self.path.is_dir():
            meta["image_fps"] = self.image_fps
        return meta


@dataclass(frozen=True)
class Decoder:
    """Decoding (and optical flow) of one video, batch by batch: what runs in a thread or in a
    worker process, apart from the CNN. Picklable."""

    fps: float
    size: int
    batch_size: int
    image_fps: float
    flow_preset: str | None = None
    flow_stack: int | None = None  # a flow network's L; None: the 3-channel flow image

    def __call__(self, path) -> Iterator[tuple[Batch, np.ndarray | None]]:
        """(batch of sampled frames, their flow images / stacks or None); any decoding failure
        is a VideoError."""
        flow = None
        if self.flow_preset is not None:
            from glimpse.features.flow import FlowImages

            flow = FlowImages(self.flow_preset)
        cache: dict = {}  # this video's flow fields, shared by overlapping stacks
        try:
            for b in iter_frames(path, fps=self.fps, size=(self.size, self.size),
                                 batch_size=self.batch_size, image_fps=self.image_fps,
                                 successors=0 if flow is None else self.flow_stack or 1):
                if flow is None:
                    yield b, None
                elif self.flow_stack is None:
                    yield b, flow(b.frames, b.successors[:, 0])
                else:
                    yield b, flow.stacks(b.frames, b.indices, b.successors, b.successor_indices,
                                         cache)
        except VideoError:
            raise
        except Exception as e:  # noqa: BLE001 - a bad file must read as a bad file
            raise VideoError(path, f"{e.__class__.__name__}: {e}") from None


def _decode_videos(decoder: Decoder, jobs, put) -> None:
    """Decode each (video number, path) of ``jobs``: put ("batch", v, (batch, flow images)) for
    each batch, then ("end", v, None) or ("error", v, reason); anything else that goes wrong
    (not the video's fault) is put as ("fatal", v, exception) and stops."""
    for v, path in jobs:
        try:
            for got in decoder(path):
                put(("batch", v, got))
            put(("end", v, None))
        except VideoError as e:
            put(("error", v, e.reason))
        except Exception as e:  # noqa: BLE001 - handed to the main process, which raises it
            put(("fatal", v, e))
            return


def _worker(decoder: Decoder, jobs, out) -> None:
    """A decoding process: videos from the ``jobs`` queue until a None."""
    try:
        import cv2

        cv2.setNumThreads(1)  # the CNN in the main process has the cores
    except ImportError:
        pass
    _decode_videos(decoder, iter(jobs.get, None), out.put)


def _messages(decoder: Decoder, paths, workers: int) -> Iterator[tuple]:
    """("batch" | "end" | "error" | "fatal", video number, payload) for every video of ``paths``:
    from one background thread (workers <= 1), or from ``workers`` processes decoding videos
    side by side (a video's batches always arrive in order)."""
    jobs = list(enumerate(paths))
    if workers <= 1:
        q: queue.Queue = queue.Queue(maxsize=4)
        thread = threading.Thread(target=_decode_videos, args=(decoder, jobs, q.put), daemon=True)
        thread.start()
        for _ in range(len(jobs)):
            while True:
                msg = q.get()
                yield msg
                if msg[0] != "batch":
                    break
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # never fork a process that holds torch's thread pools
    job_q, out_q = ctx.Queue(), ctx.Queue(maxsize=2 * workers)
    for j in jobs:
        job_q.put(j)
    for _ in range(workers):
        job_q.put(None)
    procs = [ctx.Process(target=_worker, args=(decoder, job_q, out_q), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        done = 0
        while done < len(jobs):
            try:
                msg = out_q.get(timeout=5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise GlimpseError(_workers_died([p.exitcode for p in procs])) from None
                continue
            done += msg[0] != "batch"
            yield msg
    finally:
        for p in procs:
            p.terminate()
            p.join(timeout=5)


def _workers_died(codes: list) -> str:
    """Why the decoding processes are gone, from their exit codes: killed (the kernel's
    out-of-memory killer sends SIGKILL), or failed at start, as spawn's workers do when a script
    calls ``extract(..., workers=N)`` outside ``if __name__ == "__main__":``."""
    if any(c == -signal.SIGKILL for c in codes):
        return (f"the decoding worker processes were killed (exit codes {codes}; out of memory?): "
                f"run again with fewer --workers")
    return (f"the decoding worker processes exited before the videos were decoded (exit codes "
            f"{codes}); from a Python script, extract(..., workers=N) needs the script's own code "
            f"under `if __name__ == '__main__':` (each worker starts by importing the script)")


@contextmanager
def _aborting_on_exit(open_: dict, behind: WriteBehind, bar):
    """On leaving (interrupted or not), the queued file work is finished (or undone, after a
    failure), then the entries still streaming in are aborted: nothing half-written stays."""
    try:
        yield
    finally:
        behind.close()
        for writer, _, _ in open_.values():
            writer.abort()
        bar.close()


def shard_items(items: list, shard: tuple[int, int] | None) -> list:
    """The I-th of N disjoint parts of a dataset: every N-th video of the sorted list from the
    I-th on (deterministic; classes spread evenly over the shards)."""
    if shard is None:
        return items
    i, n = shard
    if not 0 <= i < n:
        raise GlimpseError(f"--shard I/N needs 0 <= I < N, got {i}/{n}")
    return sorted(items, key=lambda it: it.relpath)[i::n]


def extract(data, out, cfg: ExtractConfig | None = None, *, device: str = "cpu",
            amp: str = "off", progress: bool = True, **settings) -> Summary:
    """Extract every video of ``data`` (folder or list file) into the store ``out`` with the
    settings ``cfg`` (``glimpse.config.ExtractConfig``, or the same as keywords); with
    ``shard = "I/N"`` only the I-th of N disjoint parts, so N processes or machines can fill one
    store (on a shared filesystem) or N stores that ``FeatureStore.merge_from`` joins. With
    ``workers`` > 1, decoding (and optical flow) runs in that many processes feeding the CNN;
    the features are the same bit for bit. With ``crops`` (1, 3, 5 or 10; ``glimpse.features.crops``)
    each video's spatial test crops are added to its existing entry instead (extract the videos
    without crops first)."""
    if cfg is None:
        cfg = ExtractConfig.of(settings)
    elif settings:
        raise GlimpseError("extract: give the settings as cfg or as keywords, not both")
    ds = _read_dataset(data, cfg)
    items = shard_items(ds.items, cfg.shard_of)
    streams = tuple(dict.fromkeys([*cfg.stream_names, *([POOLED] if cfg.pooled else []),
                                   *([LEVEL2] if cfg.levels == 2 else [])]))
    fz = Featurizer(cfg.backbone, weights=cfg.weights, layer=cfg.layer, fps=cfg.fps,
                    streams=streams, batch_size=cfg.batch_size, device=device,
                    image_fps=cfg.image_fps, flow_preset=cfg.flow_preset,
                    flow_weights=cfg.flow_weights, flow_stack=cfg.flow_stack, amp=amp,
                    crops=cfg.crops, crop_scale=cfg.crop_scale)
    store = _prepare_store(out, fz, ds, items)
    names = fz.crops.names if fz.crops else None

    def finished(eid: str) -> bool:
        return store.has(eid) and (names is None or store.entry(eid).crops == names)

    summary = Summary(total=len(items), missing=ds.missing)
    if ds.missing:
        write_json_atomic(Path(out) / "missing.json", ds.missing)
    store.clean_stale(None if cfg.shard is None else [entry_id(it.relpath) for it in items])
    todo = [it for it in items if not finished(entry_id(it.relpath))]
    summary.skipped = len(items) - len(todo)
    bar = progress_bar(total=len(todo), unit="video", desc="extract", enabled=progress)
    open_: dict[int, tuple] = {}  # video number -> (writer, masks, meta) while it streams in
    elsewhere: set[int] = set()  # videos another live process is writing (or has written)
    # freed batches are reused, not faulted in again; memory stays bounded (allocator); the
    # file work runs behind the CNN, in order (store.WriteBehind)
    behind = WriteBehind()
    # the CNN's batches side by side (Lanes), left last: the writer waits on their results
    with Lanes(device) as lanes, bounded_reuse() as tick, \
            _aborting_on_exit(open_, behind, bar):
        for kind, v, payload in _messages(fz.decoder, [it.path for it in todo], cfg.workers):
            if kind == "fatal":
                raise payload
            item = todo[v]
            if v in elsewhere:  # its batches and its end are the other process's to write
                if kind != "batch":
                    bar.update(1)
                continue
            if kind == "batch":
                if v not in open_:
                    eid = entry_id(item.relpath)
                    claim = store.claim(eid)
                    if claim is None or finished(eid):
                        if claim is not None:
                            claim.release()
                        elsewhere.add(v)
                        summary.skipped += 1
                        continue
                    masks = ActorMasks(item.mask_path) if item.mask_path is not None else None
                    open_[v] = (store.writer(eid, claim), masks,
                                VideoMeta(item.path, cfg.image_fps))
                writer, masks, meta = open_[v]
                b, flow_images = payload
                fz.write_batch(writer, b, flow_images, masks, behind, lanes)
                tick()
                meta.add(b)
                summary.frames += len(b.times)
                bar.set_postfix(frames=summary.frames, refresh=False)
                continue
            writer, _, meta = open_.pop(v, (None, None, None))
            if kind == "end" and names:
                behind(writer.commit_crops, names, undo=writer.abort)
                summary.extracted += 1
            elif kind == "end":
                fields = {**ds.fields(item), **meta.fields()}
                behind(writer.commit, fields, undo=writer.abort)
                summary.extracted += 1
            else:
                if writer is not None:
                    behind(writer.abort, undo=writer.abort)
                summary.failures[item.relpath] = payload
            bar.update(1)
        behind.wait()  # every entry committed before the summary says so
    _write_failures(Path(out), summary.failures, cfg.shard_of, crops=bool(names))
    return summary


@dataclass
class _Dataset:
    """What extraction reads from the dataset: its videos (every shard's), their root, the label
    map, each video's extra labels, official splits and annotated segments, and the annotated
    videos not found."""

    items: list
    root: Path
    labels: dict  # class name -> index (the whole dataset's, so every shard agrees)
    extra: dict | None = None  # relpath -> every label (multi-label)
    split_of: dict = field(default_factory=dict)  # relpath -> {split id: train | val | test}
    segments: dict = field(default_factory=dict)  # relpath -> [[start, end], ...] seconds
    missing: list = field(default_factory=list)
    official: bool = False  # a release format (its entries record their splits)

    def fields(self, item) -> dict:
        """An entry's meta.json fields from the dataset (the video's own come from VideoMeta)."""
        labels = self.labels
        labelled = sorted({item.label, *(self.extra or {}).get(item.relpath, [])} - {None},
                          key=labels.get)
        return {"path": item.relpath, "label": item.label,  # None, -1: withheld
                "label_index": -1 if item.label is None else labels[item.label],
                "group": item.group,
                **({"labels": labelled, "label_indices": [labels[n] for n in labelled]}
                   if self.extra is not None else {}),
                **({"splits": self.split_of.get(item.relpath, {})} if self.official else {}),
                **({"segments": self.segments[item.relpath]}
                   if item.relpath in self.segments else {})}


def _read_dataset(data, cfg: ExtractConfig) -> _Dataset:
    """The dataset ``data`` as ``cfg`` reads it: a release format (its videos, labels and
    official splits), or a folder / list file with an optional multi-label file."""
    if cfg.format is not None:
        from glimpse.datasets.formats import read_format

        if cfg.multilabel is not None:
            raise GlimpseError("--multilabel is for folders and list files; a --format reads "
                               "its own labels")
        r = read_format(cfg.format, data, cfg.annotations)
        labels = {name: i for i, name in enumerate(r.classes)} if r.classes else \
            label_map(r.items, r.labels)  # a release's own class order where it has one
        return _Dataset(r.items, r.root, labels, r.labels, r.splits, r.segments, r.missing,
                        official=True)
    items, root = load_dataset(data, cfg.root)
    extra = read_label_file(cfg.multilabel) if cfg.multilabel is not None else None
    if extra is not None:
        unknown = sorted(set(extra) - {it.relpath for it in items})
        if unknown:
            raise GlimpseError(f"{cfg.multilabel} names {len(unknown)} video(s) the dataset "
                               f"lacks (e.g. '{unknown[0]}'); paths are relative to the dataset "
                               f"root")
    return _Dataset(items, root, label_map(items, extra), extra)


def _prepare_store(out, fz: Featurizer, ds: _Dataset, items: list) -> FeatureStore:
    """The store at ``out``, created for (or checked against) the featurizer's streams and the
    dataset's labels; for test crops, the store and every video's entry must exist already."""
    store = FeatureStore(out)
    if fz.crops and not store.manifest_path.exists():
        raise GlimpseError(f"--crops adds test crops to a store's entries; {out} is not a store "
                           f"yet: extract the videos without --crops first")
    store.create_or_check(fz.feature, fz.stream_specs, list(ds.labels),
                          source=str(Path(ds.root).resolve()), multilabel=ds.extra is not None)
    if fz.crops:
        absent = [it.relpath for it in items if not store.has(entry_id(it.relpath))]
        if absent:
            raise GlimpseError(f"{len(absent)} video(s) have no entry in {out} (e.g. "
                               f"'{absent[0]}'): extract them without --crops first")
        store.set_crop_layout(fz.crops.describe())
    return store


def _write_failures(out: Path, failures: dict, shard: tuple[int, int] | None,
                    crops: bool) -> None:
    """failures.json (a shard's own, a crops pass's own), every run: {relpath: reason}."""
    name = "failures.json" if shard is None else f"failures-shard-{shard[0]}-of-{shard[1]}.json"
    if crops:  # the crops' own, beside the whole frames'
        name = name.replace("failures", "failures-crops")
    write_json_atomic(out / name, failures)
