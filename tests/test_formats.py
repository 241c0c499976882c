"""The papers' datasets in their release formats, from fixtures in the exact syntax (tiny files
in the real folder names), and a store made with --format trained on its official split."""

import json

import pytest

from glimpse import GlimpseError
from glimpse.datasets.formats import read_format
from tests.conftest import small_videos


def _touch(root, rel):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\0")
    return p


def test_hmdb51_split_files(tmp_path):
    root, ann = tmp_path / "hmdb51", tmp_path / "testTrainMulti_7030_splits"
    ann.mkdir()
    names = {"brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
                            "Aussie_Brunette_Brushing_Hair_II_brush_hair_h_nm_np1_ri_med_3.avi",
                            "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi"],
             "cartwheel": ["(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi",
                           "Bodenturnen_2004_cartwheel_f_cm_np1_le_med_0.avi",
                           "Jeff's_&_#1_cartwheel_f_cm_np1_ri_bad_1.avi"]}
    for cls, vids in names.items():
        for v in vids:
            _touch(root, f"{cls}/{v}")
        for sid, tags in (("1", "120"), ("2", "210"), ("3", "012")):
            (ann / f"{cls}_test_split{sid}.txt").write_text(
                "".join(f"{v} {t} \n" for v, t in zip(vids, tags)))  # trailing spaces
    ds = read_format("hmdb51", root, ann)
    assert sorted({it.label for it in ds.items}) == ["brush_hair", "cartwheel"]
    assert len(ds.items) == 6
    jeff = "cartwheel/Jeff's_&_#1_cartwheel_f_cm_np1_ri_bad_1.avi"
    assert ds.splits[jeff] == {"3": "test"}  # tag 0 in splits 1 and 2: not in them
    for sid in "123":
        parts = [s.get(sid) for s in ds.splits.values()]
        assert parts.count("train") == 2 and parts.count("test") == 2


def test_ucf101_lists_crlf_and_spellings(tmp_path):
    root, ann = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    ann.mkdir()
    vids = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c02.avi",
            "HandstandPushups/v_HandStandPushups_g09_c01.avi",
            "HandstandPushups/v_HandStandPushups_g02_c03.avi"]
    for v in vids:
        _touch(root, v)
    (ann / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    (ann / "trainlist01.txt").write_bytes(f"{vids[0]} 1\r\n{vids[2]} 2\r\n".encode())
    (ann / "testlist01.txt").write_bytes(f"{vids[1]}\r\n{vids[3]}\r\n".encode())
    ds = read_format("ucf101", root, ann)
    by = {it.relpath: it for it in ds.items}
    assert by[vids[2]].label == "HandstandPushups" and by[vids[2]].group == "HandstandPushups/g09"
    assert [ds.splits[v]["1"] for v in vids] == ["train", "test", "train", "test"]
    (ann / "trainlist01.txt").write_bytes(b"ApplyEyeMakeup/v_nope_g01_c01.avi 1\r\n")
    with pytest.raises(GlimpseError, match="missing under"):
        read_format("ucf101", root, ann)


def test_ucf101_keeps_classind_order_through_extract(tmp_path):
    """Label indices are classInd's ids minus 1, not sorted names: Hammering (id 1) before
    HammerThrow (id 2), which sorts first."""
    from glimpse.features.extract import extract
    from glimpse.video import write_video
    from tests.conftest import moving_bar_frames

    root, ann = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    ann.mkdir()
    vids = ["Hammering/v_Hammering_g01_c01.avi", "HammerThrow/v_HammerThrow_g01_c01.avi"]
    for v in vids:
        (root / v).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / v, moving_bar_frames(4), fps=25)
    (ann / "classInd.txt").write_text("1 Hammering\n2 HammerThrow\n")
    (ann / "trainlist01.txt").write_text(f"{vids[0]} 1\n{vids[1]} 2\n")
    (ann / "testlist01.txt").write_text("")
    assert sorted(["Hammering", "HammerThrow"]) == ["HammerThrow", "Hammering"]
    assert read_format("ucf101", root, ann).classes == ["Hammering", "HammerThrow"]
    extract(root, tmp_path / "f", fps=0, format="ucf101", annotations=ann, progress=False)
    assert json.loads((tmp_path / "f" / "manifest.json").read_text())["labels"] == \
        ["Hammering", "HammerThrow"]
    metas = [json.loads(m.read_text()) for m in (tmp_path / "f" / "entries").glob("*/meta.json")]
    assert {m["label"]: m["label_index"] for m in metas} == {"Hammering": 0, "HammerThrow": 1}


def test_hollywood2_clip_sets_are_multilabel(tmp_path):
    root, ann = tmp_path / "Hollywood2", tmp_path / "ClipSets"
    ann.mkdir()
    for clip in ("actioncliptrain00001", "actioncliptrain00002", "actioncliptest00001"):
        _touch(root, f"AVIClips/{clip}.avi")
    (ann / "AnswerPhone_train.txt").write_text("actioncliptrain00001  1\nactioncliptrain00002 -1\n")
    (ann / "Kiss_train.txt").write_text("actioncliptrain00001  1\nactioncliptrain00002  1\n")
    (ann / "Kiss_test.txt").write_text("actioncliptest00001  1\n")
    (ann / "AnswerPhone_test.txt").write_text("actioncliptest00001 -1\n")
    ds = read_format("hollywood2", root, ann)
    assert ds.labels["AVIClips/actioncliptrain00001.avi"] == ["AnswerPhone", "Kiss"]
    assert ds.labels["AVIClips/actioncliptrain00002.avi"] == ["Kiss"]
    assert ds.splits["AVIClips/actioncliptest00001.avi"] == {"1": "test"}


def test_mmaction_lists_through_extract_and_train_split(tmp_path):
    """mmaction list files -> extract --format -> the store records the split -> train --split 1
    uses exactly its train / val / test videos."""
    from glimpse.cli import main

    data = tmp_path / "videos"
    small_videos(data, frames=6, seed=8)
    videos = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.avi"))
    classes = sorted({v.split("/")[0] for v in videos})
    lists = {"train": [], "val": [], "test": []}
    for i, v in enumerate(videos):
        lists[("train", "val", "test")[i % 3]].append(f"{v} {classes.index(v.split('/')[0])}")
    for k, rows in lists.items():
        (tmp_path / f"{k}.txt").write_text("\n".join(rows) + "\n")
    ann = ",".join(f"{k}={tmp_path / f'{k}.txt'}" for k in lists)
    feats, run = tmp_path / "f", tmp_path / "run"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--format", "mmaction",
                 "--annotations", ann, "--quiet"]) == 0
    assert main(["train", str(feats), "--out", str(run), "--model", "avgpool", "--hidden", "8",
                 "--epochs", "1", "--clip-len", "6", "--split", "1", "--quiet"]) == 0
    split = json.loads((run / "split.json").read_text())
    want = {k: sorted(r.split()[0] for r in rows) for k, rows in lists.items()}
    got = {k: sorted(json.loads((feats / "entries" / e / "meta.json").read_text())["path"]
                     for e in split[k]) for k in split}
    assert got == want
    assert main(["train", str(feats), "--out", str(tmp_path / "r2"), "--model", "avgpool",
                 "--split", "2", "--quiet"]) == 2


def test_ucf11_folders_groups_and_paper_draws(tmp_path):
    root = tmp_path / "UCF11_updated_mpg"
    for cls, stem in (("basketball", "shooting"), ("biking", "biking")):
        for g in range(1, 26):
            for c in (1, 2):
                _touch(root, f"{cls}/v_{stem}_{g:02d}/v_{stem}_{g:02d}_{c:02d}.mpg")
        _touch(root, f"{cls}/Annotation/v_{stem}_01_01.xgtf")  # ignored
    _touch(root, "basketball/v_shooting_01/Thumbs.db")  # a stray file: ignored
    ds = read_format("ucf11", root, None)
    assert len(ds.items) == 2 * 25 * 2 and {it.label for it in ds.items} == {"basketball", "biking"}
    assert ds.items[0].group == "basketball/v_shooting_01"
    for sid in "12345":
        train_groups = {it.group for it in ds.items if ds.splits[it.relpath][sid] == "train"}
        test_groups = {it.group for it in ds.items if ds.splits[it.relpath][sid] == "test"}
        assert len(train_groups) == 2 * 15 and len(test_groups) == 2 * 10  # 15 / 10 a class
    assert len({frozenset(it.relpath for it in ds.items if ds.splits[it.relpath][s] == "test")
                for s in "12345"}) == 5  # five different draws


def test_jhmdb_frames_splits_and_puppet_masks_on_the_grid(tmp_path):
    """PNG frame folders, split files, puppet_mask.mat (MATLAB v5, fewer masks than frames):
    extract --format jhmdb puts the masks on the K x K grid, so the attention metrics read them."""
    import numpy as np
    from PIL import Image
    from scipy.io import savemat

    from glimpse.cli import main
    from glimpse.features.store import FeatureStore

    root, ann = tmp_path / "JHMDB", tmp_path / "JHMDB" / "splits"
    ann.mkdir(parents=True)
    H, W = 48, 64
    for cls in ("brush_hair", "catch"):
        lines = []
        for v in range(3):
            name = f"{cls}_clip_{v}"
            frames = root / "Rename_Images" / cls / name
            frames.mkdir(parents=True)
            for t in range(4):
                Image.fromarray(np.full((H, W, 3), 40 * t + v, np.uint8)).save(
                    frames / f"{t + 1:05d}.png")
            mask = np.zeros((H, W, 3), np.uint8)  # 3 masks for 4 frames
            mask[:, : W // 2] = 1  # the actor covers the left half
            (root / "puppet_mask" / cls / name).mkdir(parents=True)
            savemat(root / "puppet_mask" / cls / name / "puppet_mask.mat", {"part_mask": mask})
            lines.append(f"{name}.avi {1 if v < 2 else 2} ")
        (ann / f"{cls}_test_split1.txt").write_text("\n".join(lines) + "\n")
    ds = read_format("jhmdb", root, ann)
    assert len(ds.items) == 6 and ds.items[0].mask_path.name == "puppet_mask.mat"
    assert sorted(s["1"] for s in ds.splits.values()) == ["test"] * 2 + ["train"] * 4
    feats = tmp_path / "f"
    assert main(["extract", str(root), str(feats), "--format", "jhmdb", "--annotations", str(ann),
                 "--fps", "0", "--quiet"]) == 0
    e = FeatureStore(feats).entries()[0]
    m = e.masks().astype(np.float32)
    assert m.shape == (4, 8, 8)
    assert (m[:, :, :4] == 1).all() and (m[:, :, 4:] == 0).all()  # left half, every frame
