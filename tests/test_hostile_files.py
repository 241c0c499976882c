"""Run folders whose files are not what they should be, devices that do not exist and
libraries' own errors: each is one line naming the file or the cause (issue 50)."""

import json

import pytest

from glimpse.cli import library_error_line, main
from tests.conftest import small_store, small_videos

TRAIN = ["--model", "soft", "--hidden", "4", "--epochs", "1", "--batch-size", "4",
         "--clip-len", "4", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    small_store(root, frames=6)
    assert main(["train", str(root / "feats"), "--out", str(root / "run"), *TRAIN]) == 0
    return root


def _copy(run, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run / "run", out)
    return out


@pytest.mark.parametrize("name,content,message", [
    ("config.json", b'{"format": 2, "model": ', "not valid JSON at line 1"),
    ("config.json", b"\xff\xfe{}", "not UTF-8 text"),
    ("config.json", b"[1, 2]", "is a JSON object, not a list"),
    ("config.json", b'{"format": 2, "model": "soft", "train": {}, "feature": {}, "labels": []}',
     "'model' must be a mapping"),
    ("split.json", b'{"train": [], "val": []}', "lacks test"),
    ("split.json", b'{"train": 3, "val": [], "test": []}', "must be a list of entry ids"),
])
def test_a_damaged_run_file_is_one_line_naming_it(run, tmp_path, capsys, name, content,
                                                  message):
    folder = _copy(run, tmp_path)
    (folder / name).write_bytes(content)
    for argv in (["evaluate", str(folder), "--quiet"], ["compare", str(folder), str(folder)],
                 ["report", str(folder), "--out", str(tmp_path / "report"), "--quiet"]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc != 0 and err.count("\n") == 1 and name in err and message in err, (argv, err)


def test_a_damaged_metrics_json_is_stale_and_scored_again(run, tmp_path, capsys):
    folder = _copy(run, tmp_path)
    (folder / "metrics.json").write_bytes(b"{not json")
    assert main(["evaluate", str(folder), "--quiet"]) == 0
    assert "top1" in json.loads((folder / "metrics.json").read_text())


def test_damaged_logs_and_predictions_are_one_line(run, tmp_path, capsys):
    folder = _copy(run, tmp_path)
    (folder / "log.csv").write_text("epoch,val_top1\n1,abc\n")
    assert main(["report", str(folder), "--out", str(tmp_path / "r"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log.csv" in err and "not a number" in err, err
    from glimpse import GlimpseError
    from glimpse.compare import read_predictions

    bad = tmp_path / "predictions_test.csv"
    bad.write_text("video,label\na,b\n")
    with pytest.raises(GlimpseError, match="lacks the column"):
        read_predictions(bad)
    bad.write_bytes(b"video,correct\n\xff,1\n")
    with pytest.raises(GlimpseError, match="not UTF-8"):
        read_predictions(bad)


def test_a_device_torch_does_not_know_is_refused_before_anything_is_written(run, tmp_path,
                                                                           capsys):
    out = tmp_path / "r"
    assert main(["train", str(run / "feats"), "--out", str(out), *TRAIN, "--device", "foo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a device torch knows" in err
    assert not out.exists()


def test_library_errors_are_one_line_and_bugs_are_not_hidden():
    from safetensors import SafetensorError

    line = library_error_line(SafetensorError("Error while serializing: IoError(Os {\n code: 30"))
    assert line.startswith("SafetensorError: Error while serializing") and "\n" not in line
    import pickle

    line = library_error_line(pickle.UnpicklingError("Weights only load failed.\nline 2\nline 3"))
    assert line == "UnpicklingError: Weights only load failed."
    assert library_error_line(KeyError("x")) is None  # a bug keeps its traceback
    assert library_error_line(RuntimeError("CUDA error: no kernel image")) is not None
    assert library_error_line(RuntimeError("CUDA out of memory. Tried to allocate")) is not None
    assert library_error_line(RuntimeError(  # tensors on two devices: glimpse's bug, not the user's
        "Expected all tensors to be on the same device, but found at least two devices")) is None


def test_long_class_names_are_bounded_entry_ids_and_still_extract(tmp_path, capsys):
    """A 250-character class folder (legal on Linux) extracts: its entry ids stay under the
    255-byte file-name limit, stable and distinct, with the full path in meta.json."""
    import shutil

    from glimpse.features.store import MAX_ID_BYTES, FeatureStore, entry_id

    wide = "ü" * 120  # 240 bytes: cut between whole characters
    a, b = entry_id(f"{wide}/g1/clip_a.avi"), entry_id(f"{wide}/g1/clip_b.avi")
    assert a != b and len(a.encode()) <= MAX_ID_BYTES and a == entry_id(f"{wide}/g1/clip_a.avi")
    long = "walk" + "x" * 246  # a 250-byte class folder
    assert entry_id("walk/g1/c1.avi") == "walk__g1__c1"  # short names as before
    videos = small_videos(tmp_path / "videos", frames=4)
    first = videos / "walk"
    shutil.move(first, videos / long)
    assert main(["extract", str(videos), str(tmp_path / "f"), "--fps", "0", "--quiet"]) == 0
    store = FeatureStore(tmp_path / "f")
    assert len(store) == 6 and long in store.labels
    assert any(long in store.entry(e).meta["path"] for e in store.ids())


def test_text_with_dollar_signs_is_drawn_not_parsed():
    """A class named like matplotlib mathtext ($...$, unbalanced too) is drawn as it is."""
    import io

    from glimpse.viz.report import _plt

    plt = _plt()
    fig, ax = plt.subplots()
    ax.set_title(r"$\frac{bad$ and $x^2$ $")
    ax.set_yticks([0, 1], ["$cost$", r"$\undefinedcommand$"])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfeclass_0/a.avi class_0\n", "not UTF-8 text"),
    (b"class_0/a.avi class_0\n\x00\x01\x02", "a binary file (NUL bytes at line 2)"),
    (b"class_0/a.avi\n", ":1: expected 'relative/path label'"),
])
def test_a_damaged_list_file_is_one_line_naming_it(tmp_path, capsys, content, message):
    lst = tmp_path / "list.txt"
    lst.write_bytes(content)
    assert main(["extract", str(lst), str(tmp_path / "feats"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "list.txt" in err and message in err, err
    assert not (tmp_path / "feats").exists()


def test_a_damaged_label_file_is_one_line_naming_it(tmp_path, capsys):
    small_videos(tmp_path / "videos", frames=4)
    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"class_0/g0/c0.avi ok\n\xc3\x28 bad\n")
    rc = main(["extract", str(tmp_path / "videos"), str(tmp_path / "feats"), "--multilabel",
               str(labels), "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "labels.txt" in err and "not UTF-8" in err, err


@pytest.mark.parametrize("where,content,message", [
    ("manifest.json", b'{"format": 2, ', "not valid JSON"),
    ("manifest.json", b"\xff\xfe", "not UTF-8 text"),
    ("entry", b"[]", "is a JSON object, not a list"),
    ("entry", b'{"label": "x"}', "lacks frames"),
])
def test_a_damaged_store_file_is_one_line_naming_it(run, tmp_path, capsys, where, content,
                                                    message):
    import shutil

    store = tmp_path / "feats"
    shutil.copytree(run / "feats", store)
    entry = sorted(p for p in (store / "entries").iterdir() if not p.name.startswith("."))[0]
    target = store / "manifest.json" if where == "manifest.json" else entry / "meta.json"
    target.write_bytes(content)
    rc = main(["train", str(store), "--out", str(tmp_path / "r"), *TRAIN])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and str(target.name) in err and message in err, err
    assert not (tmp_path / "r").exists()
    if where == "entry":  # verify names it among the corrupt, and goes on
        assert main(["store", "verify", str(store)]) != 0
        assert entry.name in capsys.readouterr().out


@pytest.mark.parametrize("damage,message", [
    ("truncate", "rgb.npy: damaged (cut short: the file ends before its header's shape)"),
    ("garbage", "rgb.npy: damaged"),
    ("manifest", "manifest.json: a JSON object"),
])
def test_a_damaged_store_array_or_manifest_is_one_line(run, tmp_path, capsys, damage, message):
    """An array cut short (a disk filled mid-copy) or not an array, and a manifest that lacks
    what every manifest has: one line naming the file, training stops before the run folder
    where it can (the manifest), and 'store verify' is named for the arrays."""
    import shutil

    store = tmp_path / "feats"
    shutil.copytree(run / "feats", store)
    entry = sorted(p for p in (store / "entries").iterdir() if not p.name.startswith("."))[0]
    if damage == "truncate":
        (entry / "rgb.npy").write_bytes((entry / "rgb.npy").read_bytes()[:200])
    elif damage == "garbage":
        (entry / "rgb.npy").write_bytes(b"not an array at all" * 20)
    else:
        manifest = json.loads((store / "manifest.json").read_text())
        del manifest["feature"]
        (store / "manifest.json").write_text(json.dumps(manifest))
        message = "manifest.json: a feature store's manifest lacks feature"
    rc = main(["train", str(store), "--out", str(tmp_path / "r"), *TRAIN])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and message in err, err
    if damage != "manifest":
        assert "glimpse store verify" in err


def test_a_file_where_a_store_folder_belongs_is_one_line(run, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["extract", str(run / "videos"), str(tmp_path / "afile"), "--quiet"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
