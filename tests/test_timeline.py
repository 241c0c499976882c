"""A timeline over a long video: a 2-minute SynthActions video of two classes one after another
(a person holding a red ball, then a blue one, ...); the timeline's top class per window
follows the class playing, in one pass, with the memory of predict on a 10-second clip; the
page opens in a headless browser with its video and image loaded and no console errors."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from glimpse.cli import main
from glimpse.synth import SynthConfig, generate
from glimpse.synth.scene import Difficulty
from glimpse.video import iter_frames, write_video

FPS = 10  # of the videos; features at 4 frames a second (a 10-second clip fills a CNN batch)
EASY = Difficulty(distractors=0, jitter=0.0, pan=0.0, actor_scale=(0.6, 0.7), ball=0.2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """12 clips of 10 s (6 groups of a person with a red ball, 6 with a blue one), a run
    trained on them, and the 2-minute video of the 12 clips one after another, the classes
    alternating (and its first minute, the reference of its peak memory)."""
    root = tmp_path_factory.mktemp("timeline")
    cfg = SynthConfig(classes=1, groups=6, clips_per_group=1, frames=10 * FPS, fps=FPS,
                      width=96, height=96, seed=4, difficulty=EASY,
                      held=("red_ball", "blue_ball"))
    generate(root / "videos", cfg, jobs=1, progress=False)
    assert main(["extract", str(root / "videos"), str(root / "feats"), "--fps", "4",
                 "--quiet"]) == 0
    assert main(["train", str(root / "feats"), "--out", str(root / "run"), "--model", "avgpool",
                 "--hidden", "16", "--epochs", "20", "--batch-size", "4", "--clip-len", "8",
                 "--stride", "4", "--lr", "3e-3", "--quiet", "--no-tensorboard"]) == 0
    clips = {c.name: sorted(c.rglob("*.avi")) for c in (root / "videos").iterdir()
             if c.is_dir() and c.name != "contact_sheets"}
    red, blue = clips["walk_with_red_ball"], clips["walk_with_blue_ball"]
    order = [(red if k % 2 == 0 else blue)[k // 2] for k in range(12)]  # 12 x 10 s = 2 min
    truth = ["walk_with_red_ball" if k % 2 == 0 else "walk_with_blue_ball" for k in range(12)]

    def played(clips):
        for clip in clips:
            for b in iter_frames(clip, fps=0):
                yield from b.frames

    write_video(root / "long.avi", played(order), FPS)
    write_video(root / "one_minute.avi", played(order[:6]), FPS)
    return root, truth, order[0]


# the process's own peak: ru_maxrss would carry over the pytest process's own peak through
# fork and exec, and the two figures compared would both be that floor
PEAK = """
import sys
from glimpse.allocator import peak_resident_bytes
from glimpse.cli import main
try:
    code = main(sys.argv[2:])
finally:
    open(sys.argv[1], "w").write(str(peak_resident_bytes() // 1024))
sys.exit(code)
"""


def _peak_kib(argv, tmp_path) -> int:
    """Peak RSS (KiB) of ``glimpse ARGV`` in a fresh process of its own."""
    out = tmp_path / f"peak-{len(list(tmp_path.glob('peak-*')))}"
    r = subprocess.run([sys.executable, "-c", PEAK, str(out), *argv], capture_output=True,
                       text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(out.read_text())


def test_the_timeline_follows_the_class_playing(trained, tmp_path):
    """The top class of most windows is the class playing then, in one pass, with a peak no
    higher than that of the first minute (+10%)."""
    root, truth, short = trained
    out = tmp_path / "tl"
    long_peak = _peak_kib(["predict", str(root / "run"), str(root / "long.avi"), "--timeline",
                           str(out), "--window", "4", "--window-stride", "2"], tmp_path)
    doc = json.loads((out / "timeline.json").read_text())
    wins = doc["windows"]
    assert wins[-1]["end"] >= 115 and len(wins) >= 55
    inside = [w for w in wins if int(w["start"] // 10) == int((w["end"] - 1e-6) // 10)]
    right = [w["top"][0][0] == truth[int(w["start"] // 10)] for w in inside]
    share = sum(right) / len(right)
    print(f"timeline: {share:.2f} of {len(right)} windows inside one segment right")
    assert share >= 0.8, share  # measured: 1.00 of the 48 windows inside one segment
    for name in ("timeline.png", "overlay.webm", "timeline.html"):
        assert (out / name).stat().st_size > 1000, name
    # Flat in length: the 2-minute video's peak against its first minute's, the higher of 2
    # runs and of 3 (one process's peak varies: the first minute's read 1355 and 1540 MiB in
    # two runs of one clean clone, 2026-12-07, and a low reference failed the bound). Not against a 10-second clip: that is 2
    # batches of frames, and glibc's heap (tuned by bounded_reuse, or with its default
    # thresholds) keeps growing over the first few batches to a working set, then stays
    # (measured, each process's own VmHWM: 10 s 1220 MiB, 1 minute 1400-1448, 2 minutes
    # 1333-1400; with GLIMPSE_MALLOC=default 10 s 1091 against 2 minutes 1225)
    long_peak = max(long_peak, _peak_kib(["predict", str(root / "run"), str(root / "long.avi"),
                                          "--timeline", str(tmp_path / "again"), "--window",
                                          "4", "--window-stride", "2"], tmp_path))
    ref_peak = max(_peak_kib(["predict", str(root / "run"), str(root / "one_minute.avi"),
                              "--timeline", str(tmp_path / f"minute{i}"), "--window", "4",
                              "--window-stride", "2"], tmp_path) for i in range(3))
    print(f"peak RSS (the higher of 2 runs each): 2 minutes {long_peak / 1024:.0f} MiB, its "
          f"first minute {ref_peak / 1024:.0f} MiB")
    assert long_peak <= 1.10 * ref_peak


def test_the_timeline_page_opens_in_a_browser(trained, tmp_path):
    from glimpse.viz.browser import check_page, find_chromium, headless

    if not find_chromium():
        if os.environ.get("GLIMPSE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (scripts/ensure-chromium.sh)")
        pytest.skip("chromium/chromedriver not installed (scripts/ensure-chromium.sh installs them)")
    root, _, short = trained
    out = tmp_path / "tl"
    assert main(["predict", str(root / "run"), str(short), "--timeline",
                 str(out)]) == 0
    with headless() as driver:
        page = check_page(driver, out / "timeline.html")
        assert page["images"] and all(width for _, width in page["images"])
        assert not page["errors"], page["errors"]
        video = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const v = document.getElementById("video");
            if (v.readyState >= 1) { done([v.readyState, v.error && v.error.code]); return; }
            v.addEventListener("loadedmetadata", () => done([v.readyState, null]));
            v.addEventListener("error", () => done([v.readyState, v.error.code]));""")
        assert video[0] >= 1 and video[1] is None, video
        # before playback the cursor stands at t = 0: the left end of the plot's time axis
        # (matplotlib's axes box, written into the page), not over the class names
        left, width = driver.execute_script("""
            const c = document.getElementById("cursor"), i = document.getElementById("timeline");
            return [parseFloat(c.style.left), i.clientWidth];""")
        axis = re.search(r"const axis = \[([0-9.]+), ([0-9.]+)\]",
                         (out / "timeline.html").read_text())
        assert axis and left == pytest.approx(float(axis[1]) * width, abs=1.5)
        assert 0.1 < float(axis[1]) < 0.5 < float(axis[2]) < 0.95  # labels left, colour bar right


def _live(argv, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glimpse", "predict", *argv], stdin=stdin,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_live_stream_on_a_pipe_and_over_http(trained, tmp_path):
    """predict reads an encoded stream piped on stdin and one served over HTTP on loopback,
    prints a line a window as it is scored, exits 0 at the end of the stream and saves the
    windows seen; they name the class playing."""
    import functools
    import http.server
    import threading

    root, _, short = trained  # 10 s of a person with a red ball
    with open(short, "rb") as f:
        r = _live([str(root / "run"), "-", "--save", str(tmp_path / "pipe.json")], stdin=f)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [x for x in r.stdout.splitlines() if x.strip().endswith(tuple("0123456789"))]
    saved = json.loads((tmp_path / "pipe.json").read_text())
    assert len(saved["windows"]) >= 8 and len(lines) == len(saved["windows"])
    assert not saved["stopped"] and f"{len(saved['windows'])} windows" in r.stdout
    right = [w["top"][0][0] == "walk_with_red_ball" for w in saved["windows"]]
    assert sum(right) / len(right) >= 0.8

    # the same clip as a phone writes it: an MP4 whose index follows its frames
    phone = tmp_path / "phone.mp4"
    write_video(phone, (f for b in iter_frames(short, fps=0) for f in b.frames), FPS)
    with open(phone, "rb") as f:
        r = _live([str(root / "run"), "-", "--save", str(tmp_path / "phone.json")], stdin=f)
    assert r.returncode == 0 and "index (moov) follows its frames" in r.stderr, r.stderr[-2000:]
    phone_windows = json.loads((tmp_path / "phone.json").read_text())["windows"]
    assert [w["top"][0][0] for w in phone_windows] == [w["top"][0][0] for w in saved["windows"]]

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(short.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{short.name}"
        r = _live([str(root / "run"), url, "--save", str(tmp_path / "http.json")])
    finally:
        server.shutdown()
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "http.json").read_text())["windows"] == saved["windows"]


def test_ctrl_c_on_a_live_stream_saves_what_was_seen(trained, tmp_path):
    """A stream that has not ended (the pipe kept open): Ctrl-C after a few windows ends the
    command with exit 0 and the windows seen saved, marked stopped."""
    import signal

    root, _, short = trained
    p = subprocess.Popen([sys.executable, "-m", "glimpse", "predict", str(root / "run"), "-",
                          "--save", str(tmp_path / "seen.json")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    p.stdin.write(short.read_bytes())
    p.stdin.flush()  # and left open: the stream goes on
    lines = [p.stdout.readline() for _ in range(3)]
    assert all(b"walk_with" in line for line in lines)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["stopped"] and len(seen["windows"]) >= 3 and b"(stopped)" in out


def test_a_live_stream_that_breaks_off_keeps_what_was_seen(trained, tmp_path):
    """A stream that turns to garbage after some windows: the windows seen are saved, with the
    error, and the command ends in one line (issue 50)."""
    root, _, short = trained
    data = short.read_bytes()
    broken = tmp_path / "broken.bin"
    broken.write_bytes(data[: len(data) // 2] + bytes(range(256)) * 4000)
    with open(broken, "rb") as f:
        r = _live([str(root / "run"), "-", "--save", str(tmp_path / "seen.json"), "--json"],
                  stdin=f)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert len(seen["windows"]) >= 2 and "truncated" in seen["error"]  # half the frames
    lines = r.stdout.splitlines()  # --json: one object a window, nothing else on stdout
    assert [json.loads(x)["start"] for x in lines] == [w["start"] for w in seen["windows"]]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1].startswith("glimpse: error: ")  # after the summary line
    assert f"{len(seen['windows'])} windows" in r.stderr


def test_a_long_videos_output_is_a_summary_with_the_details_in_the_files(trained, tmp_path,
                                                                          capsys):
    """A minute's timeline prints its first and last windows and the attention every few
    seconds, not a line per window and per second; timeline.json (with the class of each
    score) and timeline.csv hold every window (issues 48, 49)."""
    root, _, _ = trained
    out = tmp_path / "tl"
    assert main(["predict", str(root / "run"), str(root / "one_minute.avi"), "--timeline",
                 str(out), "--window", "4", "--window-stride", "2", "--quiet"]) == 0
    text = capsys.readouterr().out.splitlines()
    wins = json.loads((out / "timeline.json").read_text())["windows"]
    shown = [x for x in text if x.strip()[:1].isdigit() and "s  " in x]
    assert len(wins) > 20 and len(shown) == 12
    assert any(f"{len(wins) - 12} more windows in" in x for x in text)
    looked = [x for x in text if x.lstrip().startswith("t=")]
    assert 5 <= len(looked) <= 13 and any("each frame's attention: --json" in x for x in text)
    # the files say which class each score is: the JSON's labels, a CSV row a window
    import csv

    doc = json.loads((out / "timeline.json").read_text())
    assert len(doc["labels"]) == len(wins[0]["scores"])
    with open(out / "timeline.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(wins) and rows[0]["top"] == wins[0]["top"][0][0]
    assert float(rows[3][doc["labels"][0]]) == wins[3]["scores"][0]


def test_the_png_shows_the_top_class_as_coloured_stretches(tmp_path):
    """Hand-made windows: red wins 0-4 s, blue 4-8 s, red again 8-10 s. top_runs joins the
    windows, and the PNG's strip above the scores is red's colour over the first stretch and
    blue's over the second, at the x the time axis gives them (the cursor's own fractions)."""
    from PIL import Image

    from glimpse.timeline import class_colours, timeline_image, top_runs

    labels = ["blue", "red"]
    wins = [{"start": float(t), "end": float(t + 2),
             "scores": [0.2, 0.8] if t < 4 or t >= 8 else [0.9, 0.1]} for t in range(0, 10, 2)]
    assert top_runs(wins, labels) == [{"label": "red", "start": 0.0, "end": 4.0},
                                      {"label": "blue", "start": 4.0, "end": 8.0},
                                      {"label": "red", "start": 8.0, "end": 10.0}]
    x0, x1 = timeline_image(tmp_path / "t.png", wins, labels)
    img = np.asarray(Image.open(tmp_path / "t.png").convert("RGB")).astype(int)
    H, W, _ = img.shape
    colours = {n: np.array(c[:3]) * 255 for n, c in class_colours(labels).items()}

    def column_has(t, name):  # some pixel of the column at time t is the class's colour
        col = img[: H // 3, int((x0 + (x1 - x0) * t / 10) * W)]
        return bool((np.abs(col - colours[name]).sum(-1) < 12).any())

    assert column_has(2, "red") and not column_has(2, "blue")
    assert column_has(6, "blue") and not column_has(6, "red")
    assert column_has(9, "red")
