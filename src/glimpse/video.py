"""Decode a video and sample its frames at a fixed rate (PyAV), nothing else.

A "video" is a video file, or a folder of frame images (``00001.png``, ``00002.png``, ... as
JHMDB ships its clips), read in name order at a stated rate ``image_fps`` (default 30).

Frames are sampled by timestamp, not by index, so variable-frame-rate files sample evenly:
for each target time k / fps (k = 0, 1, ...) the frame shown at that time (the last frame whose
presentation time is <= the target) is emitted. ``fps = 0`` emits every decoded frame.
Frames are streamed in batches so memory does not grow with the video's length.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from glimpse import GlimpseError
from glimpse.config import IMAGE_FPS

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mpg", ".mpeg", ".webm", ".mkv", ".mov", ".m4v", ".ogv")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def frame_images(folder: Path) -> list[Path]:
    """The frame images of a frame folder, in name order (empty if it is not one)."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


class VideoError(GlimpseError):
    """A video that cannot be decoded; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class Batch:
    frames: np.ndarray  # (n, H, W, 3) uint8 RGB
    times: np.ndarray  # (n,) float64 seconds from the first frame
    indices: np.ndarray  # (n,) int64 index of the decoded source frame
    # with successors = L > 0: (n, L, H, W, 3) the L decoded frames that follow each source frame
    # (past the video's end: its last frame again) and their source indices (n, L)
    successors: np.ndarray | None = None
    successor_indices: np.ndarray | None = None
    # on the video's last batch only: the frames decoded and the count its header declares
    # (0 where it declares none)
    decoded: int | None = None
    declared: int | None = None


def _open(path: Path):
    if not path.is_file():
        raise VideoError(path, "no such file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoError(path, f"cannot open as a video ({e.__class__.__name__}: {e})") from None
    return _with_video(container, path)


def _with_video(container, source):
    """The container, if it has a video stream."""
    if not container.streams.video:
        container.close()
        raise VideoError(source, "no video stream")
    return container


def _open_live(source: str):
    """A source read as it comes: ``-`` (an encoded stream on stdin), a v4l2 device, or any
    URL FFmpeg opens (rtsp://, http://, udp://, ...). An MP4 whose index comes after its frames
    (most phones' and cameras' files) cannot be read as it comes: on stdin, or from an HTTP
    server that does not answer range requests, it is first copied to a temporary file."""
    try:
        if source == "-":
            head, index_at_end = _mp4_head(sys.stdin.buffer)
            container = _spooled(head, sys.stdin.buffer, source) if index_at_end else \
                av.open(_Prefixed(head, sys.stdin.buffer), mode="r")
        elif source.startswith("/dev/video"):
            container = av.open(source, format="v4l2")
        elif source.lower().startswith(("http://", "https://")):
            container = _open_http(source)
        else:
            container = av.open(source, timeout=(10.0, 30.0))
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(source, f"cannot open ({e.__class__.__name__}: {e})") from None
    return _with_video(container, source)


def _open_http(url: str):
    """An HTTP(S) source: FFmpeg reads it, seeking with range requests where an MP4's index is
    at its end; a server that does not answer them has such a file copied to a temporary file."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (the user's URL)
        head, index_at_end = _mp4_head(response)
        if index_at_end and response.headers.get("Accept-Ranges", "").lower() != "bytes":
            return _spooled(head, response, url)
    return av.open(url, timeout=(10.0, 30.0))


class _Prefixed:
    """A stream read from its start again: ``head`` (bytes already read from it), then the rest.
    No ``seek``: FFmpeg reads it as the pipe it is."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.rest.read(), b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        return out


MAX_HEAD = 64 << 20  # top-level MP4 boxes held before the frames or the index: at most this


def _mp4_head(stream) -> tuple[bytes, bool]:
    """Read an ISO media file's (MP4, MOV) top-level boxes from ``stream`` until its index
    (``moov``) or its frames (``mdat``) begin: (the bytes read, whether the frames come first).
    A stream that is not such a file: (its first bytes, False)."""
    import struct

    head = stream.read(8)
    if len(head) < 8 or head[4:8] != b"ftyp":
        return head, False
    while True:
        size, kind = struct.unpack(">I4s", head[-8:])
        if kind in (b"moov", b"mdat"):
            return head, kind == b"mdat"
        if size == 1:  # a 64-bit size follows
            more = stream.read(8)
            head += more
            if len(more) < 8:
                return head, False
            size = struct.unpack(">Q", more)[0] - 8
        if size < 8 or len(head) + size > MAX_HEAD:  # to the end, or not a box: let FFmpeg say
            return head, False
        body = stream.read(size - 8)
        head += body
        nxt = stream.read(8)
        head += nxt
        if len(body) < size - 8 or len(nxt) < 8:
            return head, False


def _spooled(head: bytes, stream, source: str):
    """Open an MP4 whose frames come before its index from a stream that cannot seek (``head``:
    its bytes already read): copied to a temporary file first, said on stderr. Memory stays
    flat; the file is gone from the disk once FFmpeg holds it open."""
    import shutil
    import tempfile

    print(f"glimpse: {source}: an MP4 whose index (moov) follows its frames; reading it to a "
          f"temporary file first", file=sys.stderr, flush=True)
    with tempfile.NamedTemporaryFile(prefix="glimpse-", suffix=".mp4") as tmp:
        tmp.write(head)
        shutil.copyfileobj(stream, tmp, 1 << 20)
        tmp.flush()
        return av.open(tmp.name)


def _images(path: Path, image_fps: float) -> Iterator[tuple[av.VideoFrame, float]]:
    """A frame folder as (frame, time) pairs, like a decoded video at ``image_fps``."""
    from PIL import Image, UnidentifiedImageError

    files = frame_images(path)
    if not files:
        raise VideoError(path, f"a folder with no frame images ({', '.join(IMAGE_EXTENSIONS)})")
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise VideoError(path, f"frame image {f.name} unreadable ({e})") from None
        yield av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24"), i / image_fps


TRUNCATED = (3, 0.1)  # missing more than max(3 frames, 10%) of the declared count: truncated


def _decoded(path: Path, container, counts: dict) -> Iterator[tuple[av.VideoFrame, float]]:
    """Yield (frame, time in seconds) in presentation order; at the end ``counts`` holds
    "decoded" and "declared" (the header's frame count, 0 if none). A header off by a few frames
    (UCF101's and HMDB-51's AVIs often declare a last frame that does not decode) is accepted;
    losing more than max(3 frames, 10%) of the declared count is truncation."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    base = float(stream.time_base) if stream.time_base else None
    last = -np.inf
    i = -1
    try:
        for i, frame in enumerate(container.decode(stream)):
            if frame.pts is not None and base:
                t = frame.pts * base
            else:  # no timestamps: assume a constant rate
                rate = float(stream.average_rate or 25)
                t = i / rate
            if t <= last:  # a repeated or out-of-order timestamp: keep time monotonic
                t = last + 1e-6
            last = t
            yield frame, t
    except av.error.FFmpegError as e:
        raise VideoError(path, f"decoding failed ({e.__class__.__name__}: {e})") from None
    declared = stream.frames  # the container's own frame count (0 where it has none)
    counts.update(decoded=i + 1, declared=declared)
    if declared and declared - (i + 1) > max(TRUNCATED[0], TRUNCATED[1] * declared):
        raise VideoError(path, f"truncated: decoded {i + 1} of the {declared} frames its header "
                               f"declares")


def _lookahead(decoded, n: int) -> Iterator[tuple[av.VideoFrame, float, int, list]]:
    """(frame, time, index, the next ``n`` (frame, index) pairs, the video's last repeated past
    its end) for every decoded frame: at most n + 1 frames are held."""
    window: list = []
    for idx, (frame, t) in enumerate(decoded):
        window.append((frame, t, idx))
        if len(window) > n:
            head = window.pop(0)
            yield (*head, [(f, i) for f, _, i in window])
    while window:
        head = window.pop(0)
        rest = [(f, i) for f, _, i in window]
        last = rest[-1] if rest else (head[0], head[2])
        yield (*head, rest + [last] * (n - len(rest)))


def iter_frames(
    path: str | Path,
    *,
    fps: float = 10.0,
    size: tuple[int, int] | None = None,
    batch_size: int = 32,
    image_fps: float = IMAGE_FPS,
    successors: int = 0,
) -> Iterator[Batch]:
    """Stream RGB frames of ``path`` (a video file or a frame folder played at ``image_fps``)
    sampled at ``fps``, resized to ``size = (width, height)``. With ``successors = L``, each
    batch also holds the L decoded frames that follow each sampled frame's source frame (for
    optical flow between consecutive frames at the original rate, L stacked fields as TSN
    feeds a flow network; past the video's end the last frame repeats, i.e. zero flow).

    Raises VideoError for a missing, empty or undecodable file, no video stream, or zero frames.
    A file that decodes part-way and then fails raises after the frames that did decode.
    """
    live = str(path) == "-" or "://" in str(path) or str(path).startswith("/dev/video")
    path = str(path) if live else Path(path)
    if fps < 0:
        raise GlimpseError(f"fps must be >= 0, got {fps}")
    if image_fps <= 0:
        raise GlimpseError(f"image fps must be > 0, got {image_fps}")
    if successors < 0:
        raise GlimpseError(f"successors must be >= 0, got {successors}")
    counts: dict = {}
    if live:
        container = _open_live(path)
        decoded = _decoded(path, container, counts)
    elif path.is_dir():
        container, decoded = None, _images(path, image_fps)
    else:
        container = _open(path)
        decoded = _decoded(path, container, counts)
    yield from _last_with_counts(_batches(path, container, decoded, fps, size, batch_size,
                                          successors), counts)


def _last_with_counts(batches: Iterator[Batch], counts: dict) -> Iterator[Batch]:
    """The batches, the last one carrying the decoded and declared frame counts."""
    prev = None
    try:
        for b in batches:
            if prev is not None:
                yield prev
            prev = b
    except Exception:  # what decoded before a failure still comes out first
        if prev is not None:
            yield prev
        raise
    if prev is not None:
        yield replace(prev, decoded=counts.get("decoded"), declared=counts.get("declared"))


def _batches(path, container, decoded, fps, size, batch_size, successors) -> Iterator[Batch]:
    """iter_frames' sampling and batching of the decoded (frame, time) pairs."""
    frames, times, indices, nexts, next_idx = [], [], [], [], []
    emitted = 0
    # one scaler for the whole video: frame.reformat builds a new one (swscale's context and
    # tables) for every frame, half of decoding's CPU time on 256 x 256 clips; same pixels
    reformatter = VideoReformatter()

    def convert(frame):
        if size is None:
            return reformatter.reformat(frame, format="rgb24").to_ndarray()
        return reformatter.reformat(frame, width=size[0], height=size[1], format="rgb24",
                                    interpolation="AREA").to_ndarray()

    def flush():
        nonlocal frames, times, indices, nexts, next_idx, emitted
        out = Batch(np.stack(frames), np.asarray(times, np.float64), np.asarray(indices, np.int64),
                    np.stack(nexts) if successors else None,
                    np.asarray(next_idx, np.int64) if successors else None)
        emitted += len(frames)
        frames, times, indices, nexts, next_idx = [], [], [], [], []
        return out

    def emit(arr, t, idx, after):
        frames.append(arr), times.append(t), indices.append(idx)
        if successors:
            nexts.append(np.stack([convert(f) for f, _ in after]))
            next_idx.append([i for _, i in after])

    next_k = 0  # index of the next target time next_k / fps
    prev = None  # (frame, time, index, successors) of the latest decoded frame not yet superseded
    t0 = None
    eps = 1e-6
    try:
        for frame, t, idx, after in _lookahead(decoded, successors):
            t0 = t if t0 is None else t0
            t -= t0
            if fps == 0:
                emit(convert(frame), t, idx, after)
            elif prev is not None:
                arr = None  # the previous frame is shown at every target before this frame
                while next_k / fps < t - eps:
                    arr = convert(prev[0]) if arr is None else arr
                    emit(arr, next_k / fps, prev[2], prev[3])
                    next_k += 1
                    if len(frames) == batch_size:
                        yield flush()
            prev = (frame, t, idx, after)
            if len(frames) >= batch_size:
                yield flush()
        if fps != 0 and prev is not None:
            arr = None
            while next_k / fps <= prev[1] + eps:
                arr = convert(prev[0]) if arr is None else arr
                emit(arr, next_k / fps, prev[2], prev[3])
                next_k += 1
                if len(frames) == batch_size:
                    yield flush()
        if frames:
            yield flush()
    finally:
        if container is not None:
            container.close()
    if emitted == 0:
        raise VideoError(path, "no decodable frames")


def read_frames(path: str | Path, **kwargs) -> Batch:
    """All sampled frames of a (short) video at once; see iter_frames."""
    batches = list(iter_frames(path, **kwargs))
    cat = (lambda name: None if getattr(batches[0], name) is None else
           np.concatenate([getattr(b, name) for b in batches]))
    return Batch(cat("frames"), cat("times"), cat("indices"), cat("successors"),
                 cat("successor_indices"), batches[-1].decoded, batches[-1].declared)


def write_video(path: str | Path, frames, fps: int, *, codec: str | None = None,
                quality: str = "high") -> None:
    """Encode uint8 RGB frames (an array (F, H, W, 3) or any iterable of (H, W, 3)) to ``path``,
    one at a time as they come; the codec follows the extension.

    MPEG-4 part 2 (.avi), MPEG-1 and VP9 give the same bytes for the same frames in any process.
    libx264 in PyAV's build does not: the same frames can encode differently depending on what
    the process encoded before, so bit-reproducible data (SynthActions) defaults to .avi.
    """
    path = Path(path)
    codec = codec or CODEC_FOR_EXT.get(path.suffix.lower())
    if codec is None:
        raise GlimpseError(f"no encoder for '{path.suffix}'; use one of {sorted(CODEC_FOR_EXT)}")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise GlimpseError(f"no frames to write to {path}")
    H, W = first.shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1
        if codec == "libx264":
            stream.options = {"crf": "17" if quality == "high" else "23", "preset": "veryfast",
                              "threads": "1"}
        elif codec in ("mpeg4", "mpeg1video"):
            stream.bit_rate = 4_000_000 if quality == "high" else 1_000_000
            stream.options = {"threads": "1"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": "24", "b": "0", "threads": "1", "deadline": "realtime",
                              "cpu-used": "8", "row-mt": "0"}
        # a fresh converter per file: a shared one carries state from file to file, which made
        # the same frames encode differently depending on what the process encoded before
        to_yuv = VideoReformatter()
        for i, arr in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            frame = to_yuv.reformat(frame, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


CODEC_FOR_EXT = {".mp4": "libx264", ".avi": "mpeg4", ".mpg": "mpeg1video", ".webm": "libvpx-vp9",
                 ".mkv": "libx264"}
