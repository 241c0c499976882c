"""The HTML report: built from real tiny runs, then opened in headless Chromium, which must load
every image and animation with no console errors."""

import os

import pytest

from glimpse.cli import main
from glimpse.synth.scene import Difficulty
from tests.conftest import small_store

TRAIN = ["--epochs", "2", "--batch-size", "4", "--clip-len", "6", "--stride", "3", "--hidden", "16",
         "--lr", "1e-3", "--quiet"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    small_store(root, classes=3, clips_per_group=2, frames=12, width=96, seed=2,
                difficulty=Difficulty(distractors=1, jitter=1.0))
    for model in ("structured", "soft"):
        assert main(["train", str(root / "feats"), "--model", model, "--out",
                     str(root / model), *TRAIN]) == 0
    assert main(["report", str(root / "structured"), str(root / "soft"), "--out",
                 str(root / "report"), "--videos", "4", "--quiet"]) == 0
    return root / "report"


def test_report_is_self_contained(report):
    page = (report / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for name in ("curves.png", "per_class.png", "confusion_0.png", "confusion_1.png"):
        assert (report / "assets" / name).stat().st_size > 1000
    animations = sorted((report / "assets").glob("video_*.webp"))
    assert len(animations) == 4  # --videos 4 of the 6 test videos (one group of 2 per class)
    assert "structured" in page and "soft" in page and page.count("<figure>") == 4
    assert "Paired differences" in page and "McNemar" in page
    size = sum(f.stat().st_size for f in report.rglob("*") if f.is_file())
    assert size < 2e6


def test_report_opens_in_a_browser(report, tmp_path):
    from glimpse.viz.browser import check_page, find_chromium, headless

    if not find_chromium():
        if os.environ.get("GLIMPSE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (scripts/ensure-chromium.sh)")
        pytest.skip("chromium/chromedriver not installed (scripts/ensure-chromium.sh installs them)")
    with headless() as driver:
        page = check_page(driver, report / "index.html")
        assert len(page["images"]) == 4 + 4  # 4 figures + 4 animations
        broken = [src for src, width in page["images"] if not width]
        assert not broken, f"images that did not load: {broken}"
        assert not page["errors"], page["errors"]
        driver.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_names_its_split_and_finds_a_moved_store(report, tmp_path, capsys):
    """The runs' store moved: the report says where to point it, then works with --features,
    and a --split val report says val, not test."""
    root = report.parent
    moved = tmp_path / "feats-moved"
    (root / "feats").rename(moved)
    try:
        capsys.readouterr()
        assert main(["report", str(root / "structured"), "--out", str(tmp_path / "r1"),
                     "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "--features" in err and err.count("\n") == 1
        assert main(["report", str(root / "structured"), "--out", str(tmp_path / "r2"),
                     "--features", str(moved), "--split", "val", "--videos", "2", "--quiet"]) == 0
        page = (tmp_path / "r2" / "index.html").read_text()
        assert "the numbers below are on the <b>val</b> split" in page
        assert "val videos" in page and "test videos" not in page
    finally:
        moved.rename(root / "feats")
