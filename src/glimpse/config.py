"""Training settings, saved into every run folder, and extraction settings; unknown keys fail
loudly.

(Each model's own options live beside it, as its ``Config`` dataclass in ``glimpse.models``.)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from glimpse import GlimpseError
from glimpse.io import parse_json, read_text
from glimpse.recipes import RECIPES
from glimpse.settings import (
    ANY_INT,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    Check,
    check,
    problem,
    setting,
)


def from_dict(cls, data: dict, owner: str | None = None):
    """Build ``cls`` from a dict, refusing keys it does not know (never silently ignored); the
    error names ``owner``'s settings where given (a command), else the class's keys."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        what = f"{owner}: unknown setting(s)" if owner else f"unknown {cls.__name__} keys:"
        raise GlimpseError(f"{what} {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return cls(**data)


# Settings that do not change what a run computes: a run resumes under other values of these
# (a CPU run continues on CUDA; a finished run is extended with more epochs).
NOT_IDENTITY = ("device", "epochs", "checkpoint_every", "workers", "recipe", "patience")


SCHEDULES = ("constant", "step", "cosine")
OPTIMIZERS = ("adam", "sgd")
AMP_MODES = ("off", "bf16", "fp16")


OPT, CLIPS, DEVICE = "optimization", "clips and split", "device"


@dataclass
class TrainConfig:
    """``glimpse train``'s settings, each declared once (``glimpse.settings``): the CLI's flags,
    a ``--config`` file's keys and ``api.train``'s keywords are these fields, and every value is
    checked here whichever way it came."""

    epochs: int = setting(10, "epochs to train (paper 000: 10); raise it to extend a finished run",
                          check=POSITIVE, group=OPT)
    batch_size: int = setting(256, "clips per batch (paper 000: 256)", check=POSITIVE, group=OPT)
    lr: float = setting(1e-4, "learning rate (paper 000: Adam from 1e-4)", check=NONNEGATIVE,
                        group=OPT)
    optimizer: str = setting("adam", "adam (papers 000, 004) or sgd with --momentum (paper 001)",
                             choices=OPTIMIZERS, group=OPT)
    momentum: float = setting(0.9, "sgd's momentum (paper 001)", check=NONNEGATIVE, group=OPT)
    gamma: float = setting(1e-5, "weight decay as the explicit gamma * sum theta^2 (papers 000, "
                           "002)", check=NONNEGATIVE, group=OPT)
    clip_len: int = setting(30, "T frames per clip (paper 000)", check=POSITIVE, group=CLIPS)
    stride: int = setting(2, "d, frames between clip starts (paper 000)", check=POSITIVE,
                          group=CLIPS)
    sampling: str | None = setting(None, "clips of T consecutive frames every --stride "
                                   "(segments), or one clip of T frames at equal intervals over "
                                   "the whole video, randomly offset in training (uniform, paper "
                                   "001); default: the model's own",
                                   choices=("segments", "uniform"), group=CLIPS)
    eval_clip_len: int | None = setting(None, "T at validation and test (default: --clip-len; "
                                        "paper 001: 32)", check=POSITIVE, group=CLIPS)
    seed: int = setting(0, "the initialization's and the clip order's seed", check=ANY_INT,
                        group=OPT)
    split_seed: int = setting(0, "which draw of the groups is test", check=ANY_INT, group=CLIPS)
    split: str | None = setting(None, "the dataset's official split N (a store made with extract "
                                "--format); validation is carved from its training part",
                                group=CLIPS)
    test_fraction: float = setting(0.4, "the groups held out for test (paper 000's UCF-11: 10 of "
                                   "25)", check=OPEN_FRACTION, group=CLIPS)
    val_fraction: float = setting(0.2, "of the training groups, for model selection",
                                  check=OPEN_FRACTION, group=CLIPS)
    device: str = setting("cpu", "cpu, cuda, cuda:1, ...", group=DEVICE)
    checkpoint_every: int = setting(0, "also checkpoint every N batches (0: each epoch)",
                                    check=NONNEGATIVE_INT, group=OPT)
    lr_schedule: str = setting("constant", "constant (the papers'), step (x --lr-decay every "
                               "--lr-step epochs) or cosine (to 0 at --epochs, batch by batch)",
                               choices=SCHEDULES, group=OPT)
    warmup_epochs: float = setting(0.0, "linear warm-up to the full rate over this many epochs "
                                   "(batch by batch), then the schedule from it",
                                   check=NONNEGATIVE, group=OPT)
    lr_step: int = setting(10, "step schedule: epochs between decays", check=POSITIVE, group=OPT)
    lr_decay: float = setting(0.1, "step schedule: the factor at each decay",
                              check=OPEN_FRACTION, group=OPT)
    patience: int = setting(0, "stop when validation top-1 has not risen for N epochs (0: train "
                            "every epoch); the best checkpoint is kept either way",
                            check=NONNEGATIVE_INT, group=OPT)
    clip_grad: float = setting(0.0, "clip the gradients' global norm to this (0: off; the usual "
                               "guard for LSTMs is 1-5); log.csv's train_grad_norm is the norm "
                               "before clipping", check=NONNEGATIVE, group=OPT)
    amp: str = setting("off", "mixed precision: bf16 (CPU or CUDA) or fp16 (CUDA, with a "
                       "gradient scaler in training); off: float32", choices=AMP_MODES,
                       group=DEVICE)
    workers: int = setting(0, "DataLoader worker processes assembling the batches (0: in the "
                           "training process); the batches are the same either way",
                           check=NONNEGATIVE_INT, group=OPT)
    recipe: str | None = setting(None, "a named set of the settings above (listed at the end); a "
                                 "setting given as a flag, in --config or to api.train wins over "
                                 "the recipe's; config.json records its name",
                                 choices=tuple(RECIPES), group=OPT)

    def __post_init__(self):
        check("train", self)  # every value, from a flag, a file or a keyword, before any work

    def to_dict(self) -> dict:
        return asdict(self)


# -- extraction -------------------------------------------------------------------------------
FORMATS = ("ucf11", "hmdb51", "ucf101", "jhmdb", "hollywood2", "activitynet", "mmaction")
CROP_SCALE = 256 / 224  # frame side / crop side: the papers' resize to 256, crop 224
IMAGE_FPS = 30.0  # the frame rate of a folder of frame images, unless stated
STREAM_NAMES = ("rgb", "rgb_pooled", "rgb_level2", "flow")
BACKBONE, SAMPLING, CROPS, DATA = "backbone", "sampling", \
    "spatial test crops (evaluate --crops averages over them)", \
    "the dataset (release formats: official labels and splits)"
SHARD = Check(lambda v: re.fullmatch(r"\d+/\d+", v) is not None and
              int(v.split("/")[0]) < int(v.split("/")[1]), "I/N with 0 <= I < N (e.g. 0/4)")
STREAM_LIST = Check(lambda v: bool(v) and set(v.split(",")) <= set(STREAM_NAMES),
                    f"comma-separated names of {', '.join(STREAM_NAMES)}")


@dataclass
class ExtractConfig:
    """``glimpse extract``'s settings, each declared once (``glimpse.settings``): the CLI's flags
    and ``api.extract``'s (and ``glimpse.features.extract.extract``'s) keywords are these
    fields, every value checked here. ``streams`` and ``shard`` also take a sequence / an
    (I, N) pair from Python."""

    root: str | None = setting(None, "root of the paths in a list file (default: its folder)",
                               group=DATA)
    backbone: str = setting("efficientnet_lite0", "efficientnet_lite0 (offline), googlenet, "
                            "inception_v3, vgg16, or any image model by name: timm:NAME (timm "
                            "installed) or torchvision:NAME, with --weights FILE (its state "
                            "dict; nothing is downloaded) and optionally --layer (default: its "
                            "last spatial map)", group=BACKBONE)
    weights: str | None = setting(None, "local weights file (needed for torchvision ones)",
                                  group=BACKBONE)
    layer: str | None = setting(None, "feature layer (vgg16: conv5_3 or pool4)", group=BACKBONE)
    pooled: bool = setting(False, "also store the pooled vector (T, D): stream rgb_pooled",
                           group=BACKBONE)
    streams: str = setting("rgb", "comma-separated: rgb, rgb_pooled, rgb_level2 (as --levels "
                           "2), flow (DIS optical flow to the next decoded frame, as an image "
                           "through the same backbone)", check=STREAM_LIST, group=BACKBONE)
    levels: int = setting(1, "2: also store an earlier layer (the stride-16 stage; vgg16: pool4) "
                          "pooled to the same grid, stream rgb_level2 (paper 003)",
                          choices=(1, 2), group=BACKBONE)
    flow_preset: str = setting("medium", "DIS optical-flow preset",
                               choices=("ultrafast", "fast", "medium"), group=BACKBONE)
    flow_weights: str | None = setting(None, "your flow network: a torchvision ResNet state dict "
                                       "whose first convolution takes 2L channels (L stacked "
                                       "flow fields, TSN's layout); default: the flow image "
                                       "through the RGB backbone", group=BACKBONE)
    flow_stack: int | None = setting(None, "L, the stacked flow fields the --flow-weights network "
                                     "reads (default: read from its first convolution; checked "
                                     "against it when given)", check=POSITIVE, group=BACKBONE)
    fps: float = setting(10.0, "frames per second (0 = every frame)", check=NONNEGATIVE,
                         group=SAMPLING)
    image_fps: float = setting(IMAGE_FPS, "frame rate of clips given as folders of frame images "
                               "(JHMDB: <class>/<clip>/00001.png)",
                               check=Check(lambda v: v > 0, "a rate > 0"), group=SAMPLING)
    batch_size: int = setting(32, "frames a backbone batch", check=POSITIVE, group=SAMPLING)
    crops: int = setting(0, "add N crops to the given videos' existing entries: 1 centre, 3 left "
                         "/ centre / right, 5 corners + centre, 10 those and their mirror images "
                         "(paper 001); each crop costs one more backbone pass and one more "
                         "store's worth of disk (0: none)", choices=(0, 1, 3, 5, 10),
                         group=CROPS)
    crop_scale: float = setting(CROP_SCALE, "frame side / crop side (256/224: the papers' resize "
                                "to 256, crop 224)", check=Check(lambda v: v >= 1,
                                                                 "a number >= 1"), group=CROPS)
    workers: int = setting(1, "decoding (and flow) processes feeding the CNN (1: a thread); the "
                           "features are the same bit for bit", check=POSITIVE, group=SAMPLING)
    shard: str | None = setting(None, "I/N: only the I-th (0-based) of N disjoint parts of the "
                                "dataset, so N processes or machines fill one store, or N "
                                "stores that 'glimpse store merge' joins", check=SHARD,
                                group=DATA)
    format: str | None = setting(None, "read DATA as that dataset's release: ucf11 "
                                 "(DATA/<class>/v_x_GG/*.mpg; splits 1-5: paper 000's group "
                                 "draws), hmdb51 (DATA/<class>/*.avi, --annotations "
                                 "testTrainMulti_7030_splits/), ucf101 (--annotations "
                                 "ucfTrainTestlist/), jhmdb (DATA/Rename_Images + puppet_mask, "
                                 "--annotations splits/; actor masks), hollywood2 (DATA/AVIClips, "
                                 "--annotations ClipSets/; multi-label), activitynet "
                                 "(--annotations activity_net.v1-3.min.json; multi-label, "
                                 "training clips from the segments, the testing subset "
                                 "unlabelled), mmaction (--annotations "
                                 "train=a.txt,val=b.txt,test=c.txt)", choices=FORMATS, group=DATA)
    annotations: str | None = setting(None, "the format's split files (a folder, or for "
                                      "mmaction train=...,val=...,test=...)", group=DATA)
    multilabel: str | None = setting(None, "videos with several labels: a file of lines "
                                     "'<relpath> <label>[,<label>...]' adding to each video's "
                                     "own label; training then uses one sigmoid per class and "
                                     "evaluation mean AP", group=DATA)

    def __post_init__(self):
        if isinstance(self.streams, (tuple, list)):  # from Python: ("rgb", "flow")
            self.streams = ",".join(map(str, self.streams))
        if isinstance(self.shard, (tuple, list)) and len(self.shard) == 2:  # (I, N)
            self.shard = f"{self.shard[0]}/{self.shard[1]}"
        for name in ("root", "weights", "flow_weights", "annotations", "multilabel"):
            if isinstance(getattr(self, name), Path):  # paths from Python
                setattr(self, name, str(getattr(self, name)))
        check("extract", self)

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(s for s in self.streams.split(",") if s)

    @property
    def shard_of(self) -> tuple[int, int] | None:
        """(I, N), or None for the whole dataset."""
        if self.shard is None:
            return None
        i, n = self.shard.split("/")
        return int(i), int(n)

    @classmethod
    def of(cls, settings: dict) -> ExtractConfig:
        """From keywords; one that is not a setting is one line listing those that are."""
        return from_dict(cls, settings, owner="extract")


RUN_CONFIG_KEYS = ("format", "model", "train", "feature", "labels", "features")  # config.json's
SCALARS = (str, int, float, bool, type(None))
MAX_CONFIG_BYTES = 1 << 20  # a settings file is a page of text, not a data set


def _parse_settings_file(path: Path):
    """The file's content as loaded YAML / JSON; every way it can be unreadable is one line
    naming the file (never a traceback, never the loaded value echoed back)."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise GlimpseError(f"{path}: {path.stat().st_size} bytes is not a settings file "
                           f"(at most {MAX_CONFIG_BYTES})")
    text = read_text(path, what="a settings file")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            what = getattr(e, "problem", None) or type(e).__name__
            raise GlimpseError(f"{path}: not valid YAML{at}: {what}") from None
    return parse_json(text, path, what="a settings file")


def read_settings(path) -> dict:
    """The settings of a YAML or JSON file as one flat mapping of ``glimpse train``'s option
    names: a run's config.json (``model``, its options, the training settings, ``features``)
    or a mapping of option names (dashes or underscores). Paths in it (``features``, ``out``)
    are relative to the file's folder. Every value must be a single value (not a list or a
    mapping), and every training setting passes its declared check, the error naming the file."""
    path = Path(path)
    data = _parse_settings_file(path)
    if not isinstance(data, dict):
        raise GlimpseError(f"{path}: expected a mapping of settings, got "
                           f"{type(data).__name__}")
    if isinstance(data.get("model"), dict):  # a run's config.json
        unknown = sorted(set(data) - set(RUN_CONFIG_KEYS))
        if unknown:
            raise GlimpseError(f"{path}: unknown key(s) {', '.join(map(str, unknown))} beside a "
                               f"run's model and train (a run's config.json has "
                               f"{', '.join(RUN_CONFIG_KEYS)})")
        model, train = data["model"], data.get("train", {})
        if not isinstance(train, dict) or not isinstance(model.get("options", {}), dict):
            raise GlimpseError(f"{path}: 'train' and the model's 'options' must be mappings")
        values = {"model": model.get("name"), **model.get("options", {}), **train}
        if "features" in data:
            values["features"] = data["features"]
    else:
        values = {str(k).replace("-", "_"): v for k, v in data.items()}
    for key, value in values.items():
        if not isinstance(value, SCALARS):
            raise GlimpseError(f"{path}: {key} must be a single value, got a "
                               f"{type(value).__name__}")
    for key in ("features", "out"):
        if values.get(key) is not None:
            p = Path(str(values[key])).expanduser()
            values[key] = p if p.is_absolute() else path.parent / p
    declared = {f.name: f for f in fields(TrainConfig)}
    for key, value in values.items():
        why = problem(declared[key], value) if key in declared else None
        if why:
            raise GlimpseError(f"{path}: {key} {why}")
    return values
