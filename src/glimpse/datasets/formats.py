"""The papers' datasets in their official release formats: videos, labels and official splits.

``read_format(name, root, annotations)`` -> ``Dataset``: the videos (``VideoItem``), each
video's membership of every official split ({split id: "train" | "val" | "test"}, recorded in
the store so that ``glimpse train --split N`` uses it), and, for multi-label sets, every label of
each video. Paths are always taken from the annotation files as written, never rebuilt from
class names (UCF101's ``HandstandPushups`` folder holds ``v_HandStandPushups_*`` files).

- ``ucf11``: ROOT/<class>/v_<name>_<GG>/v_<name>_<GG>_<CC>.mpg (``Annotation`` folders and
  stray files ignored; no annotations needed); groups from the folder; official splits 1-5 are
  paper 000's draws of 15 training and 10 test groups a class (``ucf11_splits``).
- ``hmdb51``: ROOT/<class>/<video>.avi; ANNOTATIONS = the ``testTrainMulti_7030_splits`` folder
  of ``<class>_test_split{1,2,3}.txt``, lines ``<video>.avi <0|1|2>`` (1 train, 2 test, 0 not in
  that split; trailing spaces; names with ``#``, ``&``, ``(``, ``'``).
- ``ucf101``: ROOT/<Class>/v_<Class>_gGG_cCC.avi; ANNOTATIONS = the ``ucfTrainTestlist`` folder:
  ``classInd.txt`` (``<1-based id> <Class>``), ``trainlist0N.txt`` (``<path> <id>``),
  ``testlist0N.txt`` (``<path>``); CRLF line ends. Groups (gGG) from the file names, so
  validation is carved group-disjointly.
- ``jhmdb``: ROOT/Rename_Images/<class>/<video>/00001.png ... (frame folders, played at
  ``--image-fps``, 30 by default) and ROOT/puppet_mask/<class>/<video>/puppet_mask.mat (the
  actor masks: MATLAB ``part_mask`` (H, W, T)); ANNOTATIONS = the ``splits`` folder of
  ``<class>_test_split<N>.txt``, lines ``<video>.avi <1|2>`` (1 train, 2 test).
- ``hollywood2``: ROOT/AVIClips/<clip>.avi; ANNOTATIONS = the ``ClipSets`` folder of
  ``<Action>_{train,test}.txt``, lines ``<clip> <1|-1>``: several actions a clip
  (**multi-label**); the first of a clip's actions (in class order) is its primary label.
- ``activitynet``: untrimmed videos named by their id (``<id>.mp4``, ``v_<id>.mkv``, ... anywhere
  under ROOT); ANNOTATIONS = the v1.3 JSON (``database[id] = {subset, duration, annotations:
  [{segment: [s, e], label}]}``). Official split 1: ``training`` -> train, ``validation`` ->
  test, ``testing`` -> unlabelled (its labels are withheld: extracted without a label, scored
  by ``glimpse evaluate RUN --split unlabelled --activitynet-json FILE`` for the evaluation
  server); every video's labels (**multi-label**) and its annotated segments, from which
  training clips are cut; videos not found are listed and left out (YouTube takedowns make
  every copy incomplete).
- ``mmaction``: MMAction2-style list files, ``<path> <label>`` a line, one per split:
  ANNOTATIONS = ``train=a.txt,val=b.txt,test=c.txt`` (val optional), paths relative to ROOT.
  One official split, ``1``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from glimpse import GlimpseError
from glimpse.config import FORMATS
from glimpse.datasets.layouts import UNLABELLED, VideoItem
from glimpse.io import read_json, read_lines


@dataclass
class Dataset:
    items: list[VideoItem]
    root: Path
    splits: dict[str, dict[str, str]] = field(default_factory=dict)  # relpath -> {id: part}
    labels: dict[str, list[str]] | None = None  # relpath -> every label (multi-label sets)
    segments: dict[str, list] = field(default_factory=dict)  # relpath -> [[start, end] s, ...]
    missing: list[str] = field(default_factory=list)  # annotated videos not found
    classes: list[str] | None = None  # the release's own class order (label index i = classes[i])


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of the non-blank lines; CRLF or LF."""
    if not path.is_file():
        raise GlimpseError(f"annotation file {path} does not exist")
    return read_lines(path, what="an annotation file", comments=False)


def _item(root: Path, relpath: str, label: str, group: str | None = None,
          masks: Path | None = None) -> VideoItem:
    path = root / relpath
    if not path.exists():
        raise GlimpseError(f"{path} is named in the annotations but missing under {root}")
    return VideoItem(path=path, relpath=relpath, label=label, group=group, masks=masks)


_UCF11_CLIP = re.compile(r"v_(.+)_(\d+)_(\d+)\.(mpg|avi|mp4)$", re.I)


def _ucf11(root: Path) -> Dataset:
    from glimpse.datasets.splits import ucf11_splits

    items = []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        for group in sorted(p for p in cls.iterdir() if p.is_dir() and p.name != "Annotation"):
            for clip in sorted(group.iterdir()):
                if clip.is_file() and _UCF11_CLIP.match(clip.name):
                    items.append(VideoItem(clip, f"{cls.name}/{group.name}/{clip.name}",
                                           cls.name, f"{cls.name}/{group.name}"))
    if not items:
        raise GlimpseError(f"no UCF-11 clips (<class>/v_<name>_<GG>/v_<name>_<GG>_<CC>.mpg) "
                           f"under {root}")
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    for d, (train, test) in enumerate(ucf11_splits(items), 1):
        for part, its in (("train", train), ("test", test)):
            for it in its:
                splits[it.relpath][str(d)] = part
    return Dataset(items, root, dict(splits))


def _class_split_files(ann: Path, tags: tuple[str, ...], what: str):
    """(class, split id, video file name, tag) of every line of the ``<class>_test_split<N>.txt``
    files in ``ann`` (HMDB-51's and JHMDB's layout), lines ``<video>.avi <tag>``."""
    files = sorted(ann.glob("*_test_split[0-9].txt"))
    if not files:
        raise GlimpseError(f"no '<class>_test_split<N>.txt' files in {ann} ({what})")
    for f in files:
        m = re.fullmatch(r"(.+)_test_split(\d)\.txt", f.name)
        for n, line in _lines(f):
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or parts[1] not in tags:
                raise GlimpseError(f"{f}:{n}: expected '<video>.avi {'|'.join(tags)}', got "
                                   f"'{line}'")
            yield m.group(1), m.group(2), parts[0], parts[1]


def _hmdb51(root: Path, ann: Path) -> Dataset:
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    items: dict[str, VideoItem] = {}
    for label, sid, video, tag in _class_split_files(ann, ("0", "1", "2"),
                                                     "HMDB-51's testTrainMulti_7030_splits"):
        rel = f"{label}/{video}"
        if rel not in items:
            items[rel] = _item(root, rel, label)
        if tag != "0":
            splits[rel][sid] = "train" if tag == "1" else "test"
    return Dataset(sorted(items.values(), key=lambda it: it.relpath), root, dict(splits))


_UCF_GROUP = re.compile(r"_g(\d+)_c\d+\.\w+$")


def _ucf101(root: Path, ann: Path) -> Dataset:
    classes = {}
    for n, line in _lines(ann / "classInd.txt"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise GlimpseError(f"{ann / 'classInd.txt'}:{n}: expected '<id> <Class>', got '{line}'")
        classes[int(parts[0])] = parts[1]
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    items: dict[str, VideoItem] = {}
    lists = sorted(ann.glob("trainlist0[0-9].txt")) + sorted(ann.glob("testlist0[0-9].txt"))
    if not lists:
        raise GlimpseError(f"no trainlist0N.txt / testlist0N.txt in {ann} (ucfTrainTestlist)")
    for f in lists:
        part, sid = ("train", f.stem[-1]) if f.name.startswith("train") else ("test", f.stem[-1])
        for n, line in _lines(f):
            parts = line.split()
            rel = parts[0]
            if part == "train":
                if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in classes:
                    raise GlimpseError(f"{f}:{n}: expected '<Class>/<video>.avi <id>' with an id "
                                       f"of classInd.txt, got '{line}'")
                label = classes[int(parts[1])]
            else:
                label = rel.split("/")[0]
                if label not in classes.values():
                    raise GlimpseError(f"{f}:{n}: folder '{label}' is no class of classInd.txt")
            if rel not in items:
                g = _UCF_GROUP.search(rel)
                items[rel] = _item(root, rel, label, f"{label}/g{g.group(1)}" if g else None)
            splits[rel][sid] = part
    return Dataset(sorted(items.values(), key=lambda it: it.relpath), root, dict(splits),
                   classes=[classes[i] for i in sorted(classes)])  # classInd ids 1.. -> 0..


def _jhmdb(root: Path, ann: Path) -> Dataset:
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    items: dict[str, VideoItem] = {}
    for label, sid, video, tag in _class_split_files(ann, ("1", "2"), "JHMDB's splits"):
        stem = video.rsplit(".", 1)[0]
        rel = f"Rename_Images/{label}/{stem}"
        if rel not in items:
            items[rel] = _item(root, rel, label,
                               masks=root / "puppet_mask" / label / stem / "puppet_mask.mat")
        splits[rel][sid] = "train" if tag == "1" else "test"
    return Dataset(sorted(items.values(), key=lambda it: it.relpath), root, dict(splits))


def _hollywood2(root: Path, ann: Path) -> Dataset:
    files = sorted(ann.glob("*_train.txt")) + sorted(ann.glob("*_test.txt"))
    files = [f for f in files if not f.name.startswith(("actions_", "scenes_"))]
    if not files:
        raise GlimpseError(f"no '<Action>_train.txt' / '<Action>_test.txt' in {ann} (ClipSets)")
    positive: dict[str, set] = defaultdict(set)
    part: dict[str, str] = {}
    for f in files:
        action, subset = f.stem.rsplit("_", 1)
        for n, line in _lines(f):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("1", "-1"):
                raise GlimpseError(f"{f}:{n}: expected '<clip> 1|-1', got '{line}'")
            part[parts[0]] = subset
            if parts[1] == "1":
                positive[parts[0]].add(action)
    actions = sorted({f.stem.rsplit("_", 1)[0] for f in files})
    items, labels, splits = [], {}, {}
    for clip in sorted(part):
        if not positive[clip]:
            continue  # a clip with no action of the set
        names = [a for a in actions if a in positive[clip]]
        rel = f"AVIClips/{clip}.avi"
        items.append(_item(root, rel, names[0]))
        labels[rel] = names
        splits[rel] = {"1": part[clip]}
    return Dataset(items, root, splits, labels)


def _activitynet(root: Path, ann: Path) -> Dataset:
    database = read_json(ann, keys=("database",), what="an ActivityNet JSON")["database"]
    if not isinstance(database, dict):
        raise GlimpseError(f"{ann}: its 'database' is a JSON object of videos, not a "
                           f"{type(database).__name__}")
    files = {}
    for p in root.rglob("*"):
        if p.is_file() and p.suffix.lower() in (".mp4", ".mkv", ".webm", ".avi", ".mov"):
            files.setdefault(p.stem[2:] if p.stem.startswith("v_") else p.stem, p)
    parts = {"training": "train", "validation": "test", "testing": UNLABELLED}
    ds = Dataset([], root, {}, {}, {}, [])
    for vid, rec in sorted(database.items()):
        if not isinstance(rec, dict) or rec.get("subset") not in parts or \
                (rec["subset"] != "testing" and not rec.get("annotations")):
            continue
        if vid not in files:
            ds.missing.append(vid)
            continue
        rel = files[vid].relative_to(root).as_posix()
        names = sorted({a["label"] for a in rec.get("annotations") or []})
        ds.items.append(VideoItem(files[vid], rel, names[0] if names else None))
        ds.labels[rel] = names
        ds.splits[rel] = {"1": parts[rec["subset"]]}
        ds.segments[rel] = [[float(a["segment"][0]), float(a["segment"][1])]
                            for a in rec["annotations"]]
    if not ds.items:
        raise GlimpseError(f"none of the annotated videos of {ann} is under {root} (files named "
                           f"<id>.mp4 or v_<id>.mp4)")
    return ds


def _mmaction(root: Path, ann: str) -> Dataset:
    parts = dict(p.split("=", 1) for p in ann.split(",") if "=" in p)
    if not parts or set(parts) - {"train", "val", "test"} or "train" not in parts:
        raise GlimpseError(f"--annotations for mmaction: 'train=FILE,val=FILE,test=FILE' (val "
                           f"optional), got '{ann}'")
    items: dict[str, VideoItem] = {}
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    for subset, f in parts.items():
        for n, line in _lines(Path(f)):
            bits = line.rsplit(maxsplit=1)
            if len(bits) != 2:
                raise GlimpseError(f"{f}:{n}: expected '<path> <label>', got '{line}'")
            rel, label = bits
            if rel not in items:
                items[rel] = _item(root, rel, label)
            splits[rel]["1"] = subset
    return Dataset(sorted(items.values(), key=lambda it: it.relpath), root, dict(splits))


def read_format(name: str, root, annotations) -> Dataset:
    """The dataset at ``root`` in release format ``name`` with its ``annotations``."""
    root = Path(root)
    if name not in FORMATS:
        raise GlimpseError(f"unknown --format '{name}'; choose from {', '.join(FORMATS)}")
    if not root.is_dir():
        raise GlimpseError(f"{root} is not a folder (the dataset's videos)")
    if name == "ucf11":
        return _ucf11(root)
    if annotations is None:
        raise GlimpseError(f"--format {name} needs --annotations (see 'glimpse extract --help')")
    if name == "mmaction":
        return _mmaction(root, str(annotations))
    if name == "activitynet":
        return _activitynet(root, Path(annotations))
    ann = Path(annotations)
    if not ann.is_dir():
        raise GlimpseError(f"--annotations {ann}: expected the folder of {name}'s split files")
    return {"hmdb51": _hmdb51, "ucf101": _ucf101, "jhmdb": _jhmdb,
            "hollywood2": _hollywood2}[name](root, ann)
