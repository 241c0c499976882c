"""Find the videos of a dataset and their labels.

Two layouts:

- a folder in the UCF-11 layout ``ROOT/<class>/<group>/<clip>.<ext>`` (groups optional:
  ``ROOT/<class>/<clip>.<ext>`` gives group None). HMDB-51's ``ROOT/<class>/<clip>.avi`` is the
  groupless case. A clip may also be a folder of frame images (JHMDB's
  ``ROOT/<class>/<clip>/00001.png``; ``ROOT/<class>/<group>/<clip>/`` with groups). An actor
  mask file ``<clip>.mask.npz`` beside a clip is picked up.
- an MMAction2-style list file: one ``relative/path label`` per line, relative to the list
  file's folder or to ``--root``; labels are class names or integer indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glimpse import GlimpseError
from glimpse.io import read_lines
from glimpse.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, frame_images

MASK_SUFFIX = ".mask.npz"
UNLABELLED = "unlabelled"  # the official part of videos whose labels are withheld


@dataclass(frozen=True)
class VideoItem:
    path: Path  # absolute
    relpath: str  # relative to the dataset root, with "/"
    label: str | None  # None: a video whose label is withheld (ActivityNet's testing subset)
    group: str | None = None
    masks: Path | None = None  # an actor-mask file elsewhere (JHMDB's puppet_mask.mat)

    @property
    def mask_path(self) -> Path | None:
        if self.masks is not None:
            return self.masks if self.masks.exists() else None
        stem = self.path.name if self.path.is_dir() else self.path.name.rsplit(".", 1)[0]
        p = self.path.with_name(stem + MASK_SUFFIX)
        return p if p.exists() else None


def read_label_file(path) -> dict[str, list[str]]:
    """A multi-label file: one line per video, ``<relpath> <label>[,<label>...]`` (blank lines
    and ``#`` comments skipped) -> {relpath: [labels]}. The labels are added to the video's own
    (its folder's or its list file's)."""
    out: dict[str, list[str]] = {}
    for n, line in read_lines(path, what="a label file ('<video> <label>[,<label>...]' lines)"):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise GlimpseError(f"{path}:{n}: expected '<video> <label>[,<label>...]', got "
                               f"'{line}'")
        out[parts[0]] = [x for x in parts[1].split(",") if x]
    return out


def label_map(items, extra: dict | None = None) -> dict[str, int]:
    """Stable label map: sorted class names -> 0..C-1 (integer names sort numerically); with
    ``extra`` ({relpath: [labels]}) its labels count too."""
    names = {it.label for it in items if it.label is not None} | \
        {x for ls in (extra or {}).values() for x in ls}
    key = (lambda s: (0, int(s), "")) if all(n.isdigit() for n in names) else (lambda s: (1, 0, s))
    return {name: i for i, name in enumerate(sorted(names, key=key))}


def scan_folder(root: str | Path) -> list[VideoItem]:
    root = Path(root)
    if not root.is_dir():
        raise GlimpseError(f"{root} is not a folder; give a dataset folder (class/group/clip.ext) "
                           f"or a list file")
    items = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.name.startswith("."):
                continue
            is_video = path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
            is_frames = path.is_dir() and bool(frame_images(path))  # JHMDB: a folder of frames
            if not (is_video or is_frames):
                continue
            rel = path.relative_to(root)
            group = rel.parts[1] if len(rel.parts) > 2 else None
            items.append(VideoItem(path.resolve(), rel.as_posix(), class_dir.name, group))
    if not items:
        raise GlimpseError(f"no videos found under {root} (looked for {', '.join(VIDEO_EXTENSIONS)}"
                           f" files, or folders of {', '.join(IMAGE_EXTENSIONS)} frames, in "
                           f"<class>/ or <class>/<group>/ folders)")
    return items


def read_list_file(path: str | Path, root: str | Path | None = None) -> list[VideoItem]:
    """``relative/path label`` per line; blank lines and ``#`` comments are skipped."""
    path = Path(path)
    root = Path(root) if root else path.parent
    items = []
    for n, line in read_lines(path, what="a list file ('relative/path label' lines)"):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise GlimpseError(f"{path}:{n}: expected 'relative/path label', got '{line}'")
        rel, label = parts
        rel_path = Path(rel)
        group = rel_path.parts[-2] if len(rel_path.parts) > 2 else None
        items.append(VideoItem((root / rel).resolve(), rel_path.as_posix(), label, group))
    if not items:
        raise GlimpseError(f"list file {path} names no videos")
    return items


def load_dataset(data: str | Path, root: str | Path | None = None) -> tuple[list[VideoItem], Path]:
    """A folder or a list file -> (items, dataset root)."""
    data = Path(data)
    if data.is_dir():
        return scan_folder(data), data
    if data.is_file():
        items = read_list_file(data, root)
        return items, Path(root) if root else data.parent
    raise GlimpseError(f"{data} does not exist; give a dataset folder or a list file")
