import json
from dataclasses import replace

import numpy as np

from glimpse.cli import main
from glimpse.datasets.masks import load_masks
from glimpse.synth import ACTIONS, CLASSES, PRESETS, SynthConfig, generate
from glimpse.synth.scene import HELD
from glimpse.synth.writer import make_clip, synth_meta
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


# -- the attention preset: three people, the labelled one holding a ball ------------------------
SMALL_ATTENTION = replace(PRESETS["attention"], groups=1, frames=6, width=96, height=96)


def test_attention_classes_are_motions_with_balls():
    names = PRESETS["attention"].class_names
    assert len(names) == 10 and names[:2] == ("walk_with_red_ball", "walk_with_blue_ball")
    assert PRESETS["attention-3"].class_names == names
    cast = PRESETS["attention-3"].cast(3, np.random.default_rng(0))  # run with the blue ball
    assert cast["action_name"] == "run" and cast["held"] == HELD["blue_ball"]
    others = [m for m, _ in cast["others"]]
    assert len(others) == 2 and "run" not in others and len(set(others)) == 2
    assert sorted([cast["lane"]] + [lane for _, lane in cast["others"]]) == [0, 1, 2]


def test_attention_preset_rebuilds_identical_frames(tmp_path):
    generate(tmp_path / "a", SMALL_ATTENTION, jobs=1, progress=False)
    generate(tmp_path / "b", SMALL_ATTENTION, jobs=2, progress=False)
    clips = sorted((tmp_path / "a").rglob("*.avi"))
    assert len(clips) == 10
    for clip in clips:
        other = tmp_path / "b" / clip.relative_to(tmp_path / "a")
        np.testing.assert_array_equal(read_frames(clip, fps=0).frames,
                                      read_frames(other, fps=0).frames)
    meta = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert meta["held"] == ["red_ball", "blue_ball"] and meta["difficulty"]["actors"] == 2


def test_attention_masks_cover_the_labelled_actor_only():
    cfg = replace(PRESETS["attention-3"], groups=1, width=128, height=128, frames=4)
    for c in (0, 5, 9):
        frames, mask, others = make_clip(cfg, c, 0, 0, every_mask=True)
        assert len(others) == 2
        for f in range(len(frames)):
            assert mask[f].sum() > 30  # the labelled actor is in view ...
            for o in others:
                assert o[f].sum() > 30 and not (mask[f] & o[f]).any()  # ... and only them
        # the ball is inside the mask: its colour is where the mask is, not elsewhere
        ball = np.asarray(cfg.cast(c, np.random.default_rng(0))["held"]) * 255
        close = (np.abs(frames.astype(float) - ball).max(-1) < 40)
        assert close[mask].any()


def test_presets_made_before_the_cast_are_unchanged():
    """retest and demo clips render as before the attention preset existed (hash of clip 0)."""
    import hashlib

    f, m = make_clip(PRESETS["retest"], 0, 0, 0)
    assert hashlib.sha1(f.tobytes()).hexdigest()[:12] == "211a7a1c16ec"
    assert hashlib.sha1(m.tobytes()).hexdigest()[:12] == "bd4fe7c2c468"
    meta_keys = SynthConfig.__dataclass_fields__
    assert "held" in meta_keys  # the new setting exists, but older sets' synth.json lack it:
    meta = synth_meta(PRESETS["retest"])
    assert "held" not in meta and not {"actors", "ball"} & set(meta["difficulty"])


def test_cli_attention_preset_with_overrides(tmp_path, capsys):
    rc = main(["synth", str(tmp_path / "a"), "--preset", "attention", "--groups", "1",
               "--frames", "4", "--size", "64x64", "--jobs", "1", "--quiet"])
    assert rc == 0 and "wrote 10 clips of 10 classes" in capsys.readouterr().out
    meta = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert meta["difficulty"]["actors"] == 2 and meta["frames"] == 4
    assert (tmp_path / "a" / "run_with_blue_ball" / "group_01").is_dir()
    rc = main(["synth", str(tmp_path / "b"), "--classes", "2", "--groups", "1", "--frames", "3",
               "--size", "64x64", "--clips-per-group", "1", "--actors", "3", "--held", "blue_ball",
               "--jobs", "1",
               "--quiet"])
    assert rc == 0 and "wrote 2 clips of 2 classes" in capsys.readouterr().out
    assert (tmp_path / "b" / "walk_with_blue_ball").is_dir()
