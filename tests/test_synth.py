import json

import numpy as np

from glimpse.cli import main
from glimpse.datasets.masks import load_masks
from glimpse.synth import ACTIONS, CLASSES, generate
from glimpse.video import read_frames
from tests.conftest import TINY


def test_ten_weizmann_classes():
    assert len(CLASSES) == 10
    assert {"walk", "run", "jump", "jump_in_place", "gallop_sideways", "skip", "bend",
            "wave_one_hand", "wave_two_hands", "jumping_jack"} == set(CLASSES)


def test_jump_and_jump_in_place_differ_only_in_motion():
    """Same pose at every phase; only the travel tells them apart (motion over time)."""
    for p in np.linspace(0, 4 * np.pi, 9):
        a, b = ACTIONS["jump"].pose(p), ACTIONS["jump_in_place"].pose(p)
        assert a.angles == b.angles and a.lift == b.lift
    assert ACTIONS["jump"].pose(4 * np.pi).travel > 1.0 and ACTIONS["jump_in_place"].pose(4 * np.pi).travel == 0


def test_layout_masks_and_contact_sheets(tiny_synth):
    clips = sorted(tiny_synth.rglob("*.avi"))
    assert len(clips) == TINY.classes * TINY.groups * TINY.clips_per_group
    rel = clips[0].relative_to(tiny_synth).as_posix()
    assert rel == "jump/group_01/jump_g01_c01.avi"
    masks = load_masks(clips[0].with_name("jump_g01_c01.mask.npz"))
    frames = read_frames(clips[0], fps=0)
    assert masks.shape == frames.frames.shape[:3]
    area = masks.mean(axis=(1, 2))
    assert (area > 0.01).all() and (area < 0.4).all()
    assert (tiny_synth / "contact_sheet.png").exists()
    assert (tiny_synth / "contact_sheets" / "jump.png").exists()
    assert json.loads((tiny_synth / "synth.json").read_text())["seed"] == TINY.seed


def test_actor_pixels_differ_from_background(tiny_synth):
    """The mask marks where the figure is drawn: the picture changes there when it moves."""
    clip = sorted(tiny_synth.rglob("*.avi"))[0]
    masks = load_masks(clip.with_name(clip.stem + ".mask.npz"))
    assert masks[0].sum() > 50


def test_same_seed_same_frames(tmp_path, tiny_synth):
    generate(tmp_path / "again", TINY, jobs=2, progress=False)
    for clip in sorted(tiny_synth.rglob("*.avi")):
        other = tmp_path / "again" / clip.relative_to(tiny_synth)
        np.testing.assert_array_equal(read_frames(clip, fps=0).frames, read_frames(other, fps=0).frames)


def test_cli_synth(tmp_path, capsys):
    rc = main(["synth", str(tmp_path / "s"), "--classes", "2", "--groups", "1", "--clips-per-group", "1",
               "--frames", "5", "--size", "64x48", "--ext", ".mp4", "--jobs", "1"])
    assert rc == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    b = read_frames(tmp_path / "s" / "walk" / "group_01" / "walk_g01_c01.mp4", fps=0)
    assert b.frames.shape == (5, 48, 64, 3)
