"""The ``glimpse`` command: subcommands only. Each parses its options, calls one function, prints.

A GlimpseError becomes one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

from glimpse import GlimpseError, __version__, distributed
from glimpse.config import ExtractConfig, TrainConfig, read_settings
from glimpse.recipes import describe as describe_recipes
from glimpse.recipes import recipe_defaults

MISSING_SHOWN = 5  # annotated videos not found, named in extract's summary


def _size(text: str) -> tuple[int, int]:
    try:
        w, _, h = text.lower().partition("x")
        return int(w), int(h or w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or SIDE, got '{text}'") from None


def _number(cast, ok, want: str):
    """An argparse type: ``cast`` the text, then require ``ok(value)`` ("expected <want>")."""
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {want}, got '{text}'") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {want}, got {v}")
        return v
    return parse


_positive = _number(int, lambda v: v >= 1, "a number >= 1")
_fraction = _number(float, lambda v: 0 < v < 1, "a fraction between 0 and 1")
_nonnegative = _number(float, lambda v: v >= 0, "a number >= 0")
_nonnegative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
_positive_float = _number(float, lambda v: v > 0, "a number > 0")


def _range(text: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition(",")
        lo, hi = float(lo), float(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX, got '{text}'") from None
    if not 0 < lo <= hi <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 < MIN <= MAX <= 1, got '{text}'")
    return lo, hi


def _parser(name, sub, help, examples):
    # argparse %-formats a subcommand's help in the command list: a literal % must be doubled
    return sub.add_parser(name, help=help.replace("%", "%%"), description=help,
                          epilog="examples:\n" + textwrap.indent(examples.strip(), "  "),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


# -- options shared by several commands, each defined once --------------------------------------
# evaluate: None, decided in _evaluate: vote (paper 000), or mean with --temporal-views (paper
# 001's views averaged)
VIDEO_RULE_DEFAULTS = {"evaluate": None, "compare": "vote", "fuse": "mean"}


def _add_quiet(p) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _train_setting(name: str):
    return next(f for f in fields(TrainConfig) if f.name == name)


def _add_setting(g, f, help: str | None = None) -> None:
    """One flag for a declared setting (``glimpse.settings``: a TrainConfig field or a model
    option): its type and check, choices, default and help, as declared."""
    from glimpse.settings import base_type, default_of

    meta, default = f.metadata, default_of(f)
    text = help or meta["help"]
    dashed = f.name.replace("_", "-")
    if base_type(f) == "bool":  # --name when off by default, --no-name when on
        flag = f"--no-{dashed}" if default else f"--{dashed}"
        g.add_argument(flag, dest=f.name, action="store_const", const=not default,
                       default=default, help=text + (" (on by default)" if default else ""))
        return
    if default not in (None, ""):
        text += f" (default {default:.4g})" if isinstance(default, float) else \
            f" (default {default})"
    choices = [c for c in (meta["choices"] or ()) if c != ""] or None
    g.add_argument(f"--{dashed}", dest=f.name, type=_option_parser(f), default=default,
                   choices=choices, help=text)


def _add_device(p) -> None:
    for name in ("device", "amp"):
        _add_setting(p, _train_setting(name))


def _check_device(device: str, amp: str = "off") -> None:
    from glimpse.amp import check_amp

    _check_cuda(device)
    check_amp(amp, device)


def _add_features(p) -> None:
    p.add_argument("--features", type=Path,
                   help="the feature store, where it moved since training (default: the one the "
                        "run was trained on)")


def _add_video_rule(p, command: str, extra: str = "") -> None:
    """--video-rule with ``command``'s default (VIDEO_RULE_DEFAULTS; None: decided later)."""
    default = VIDEO_RULE_DEFAULTS[command]
    p.add_argument("--video-rule", default=default, choices=["vote", "mean"],
                   help="a video's label: the majority vote of its clips (paper 000) or the "
                        "argmax of its mean clip score (papers 002, 004, MMAction2)" +
                        (f"; default {default}" if default else "") + extra)


# -- synth ------------------------------------------------------------------------------------
def _add_synth(sub):
    p = _parser("synth", sub, "write the SynthActions benchmark as encoded videos + actor masks", """
glimpse synth /tmp/synth
glimpse synth /tmp/s --classes 10 --groups 3 --clips-per-group 2 --frames 40 --seed 0
glimpse synth /tmp/hard --actor-scale 0.3,0.4 --distractors 4 --jitter 5 --ext .mp4
glimpse synth data/retest --preset retest      # the set behind the re-test tables (docs/retest)
glimpse synth data/att --preset attention      # two people, the labelled one holds a ball
glimpse synth /tmp/crowd --actors 3 --held red_ball,blue_ball --classes 5""")
    p.add_argument("out", type=Path, help="output folder (UCF-11 layout: class/group_XX/clip.ext)")
    p.add_argument("--preset", choices=["demo", "demo-v2", "demo-v1", "retest", "attention", "attention-3"],
                   help="named settings (demo: the demo's 300 clips; demo-v1: its 400 before "
                        "issue 22; retest: the re-test tables' "
                        "1,500; attention: 1,500 clips where attention and motion both matter; "
                        "attention-3: its first calibration, three people); "
                        "options given beside it override it")
    g = p.add_argument_group("size")
    g.add_argument("--classes", type=_positive,
                   help="number of motions (1-10; default 10); with --held, each motion with "
                        "each ball is a class")
    g.add_argument("--groups", type=_positive, help="groups per class (scene + actor; default 5)")
    g.add_argument("--clips-per-group", type=_positive, help="default 4")
    g.add_argument("--frames", type=_positive, help="frames per clip (default 40)")
    g.add_argument("--fps", type=_positive, help="frame rate of the encoded clips (default 25)")
    g.add_argument("--size", type=_size, help="WIDTHxHEIGHT (default 256x256)")
    g.add_argument("--ext",
                   help=".avi (MPEG-4 part 2, default, bit-reproducible), .mp4 (H.264), .mpg, .webm")
    g.add_argument("--seed", type=int, help="default 0")
    d = p.add_argument_group("difficulty")
    d.add_argument("--actor-scale", type=_range,
                   help="actor height as a fraction of the frame, MIN,MAX (default 0.42,0.58)")
    d.add_argument("--distractors", type=int, help="moving distractor objects (default 2)")
    d.add_argument("--jitter", type=float, help="camera shake in pixels (default 3)")
    d.add_argument("--actors", type=_positive,
                   help="people in the scene, each in its own lane; the labelled one acts out "
                        "the class, the others other motions of the set (default 1)")
    d.add_argument("--held", type=lambda s: tuple(x for x in s.split(",") if x),
                   help="balls the labelled actor holds, comma-separated (red_ball, blue_ball): "
                        "each class is then a motion with a ball (default none)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    _add_quiet(p)
    p.set_defaults(func=_synth)


def _synth(a):
    from dataclasses import replace

    from glimpse.synth import PRESETS, SynthConfig, generate

    base = PRESETS[a.preset] if a.preset else SynthConfig()
    given = {k: getattr(a, k) for k in ("classes", "groups", "clips_per_group", "frames", "fps",
                                        "ext", "seed", "held") if getattr(a, k) is not None}
    if a.size is not None:
        given.update(width=a.size[0], height=a.size[1])
    hard = {k: getattr(a, k) for k in ("actor_scale", "distractors", "jitter", "actors")
            if getattr(a, k) is not None}
    cfg = replace(base, **given, difficulty=replace(base.difficulty, **hard))
    rels = generate(a.out, cfg, jobs=a.jobs, progress=not a.quiet)
    print(f"wrote {len(rels)} clips of {len(cfg.class_names)} classes to {a.out}")
    print(f"contact sheet: {a.out / 'contact_sheet.png'}")
    return 0


# -- extract ----------------------------------------------------------------------------------
def _add_extract(sub):
    p = _parser("extract", sub, "decode videos, run the frozen backbone, write the feature store", """
glimpse extract /tmp/synth /tmp/features
glimpse extract ucf11/ feats/ --fps 0 --pooled
glimpse extract list.txt feats/ --root videos/ --backbone inception_v3 --weights inception.pth
glimpse extract videos/ feats/ --backbone torchvision:resnet50 --weights resnet50.pth --layer layer4
glimpse extract videos/ feats/ --backbone timm:convnext_tiny --weights convnext_tiny.pth
glimpse extract ucf101/ feats/ --shard 0/4      # on machine 0 of 4 (1/4, 2/4, 3/4 on the others)
glimpse extract /tmp/synth /tmp/features2 --streams rgb,flow --levels 2   # papers 001 and 003
glimpse extract hmdb51/ feats/ --format hmdb51 --annotations testTrainMulti_7030_splits/
glimpse extract UCF-101/ feats/ --format ucf101 --annotations ucfTrainTestlist/  # then train --split 1
glimpse extract test.txt feats/ --root videos/ --crops 10   # paper 001's 10 test crops, added to feats/""")
    p.add_argument("data", type=Path, help="dataset folder (class/[group/]clip.ext) or list file")
    p.add_argument("out", type=Path, help="feature store folder (created, or resumed)")
    groups: dict = {}
    for f in fields(ExtractConfig):  # every extraction setting, as ExtractConfig declares it
        group = f.metadata["group"]
        _add_setting(groups.get(group) or groups.setdefault(group, p.add_argument_group(group)),
                     f)
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_extract)


def _extract(a):
    from glimpse.features.extract import extract

    _check_device(a.device, a.amp)
    cfg = ExtractConfig(**{f.name: getattr(a, f.name) for f in fields(ExtractConfig)})
    s = extract(a.data, a.out, cfg, device=a.device, amp=a.amp, progress=not a.quiet)
    print(f"{s.extracted} extracted, {s.skipped} already done, {len(s.failures)} failed "
          f"({s.frames} frames) -> {a.out}")
    if s.missing:  # the first few here, all in the file
        shown = ", ".join(s.missing[:MISSING_SHOWN]) + (", ..." if len(s.missing) >
                                                         MISSING_SHOWN else "")
        print(f"{len(s.missing)} annotated videos are not under {a.data}: {shown} (all in "
              f"{a.out / 'missing.json'})")
    if s.failures:
        for rel, why in sorted(s.failures.items()):
            print(f"  failed: {rel}: {why}", file=sys.stderr)
        print(f"glimpse: error: {len(s.failures)} of {s.total} videos could not be extracted "
              f"(listed in {a.out / ('failures-crops.json' if a.crops else 'failures.json')})",
              file=sys.stderr)
        return 1
    return 0


# -- store ----------------------------------------------------------------------------------
def _add_store(sub):
    p = _parser("store", sub, "feature-store tools: verify, merge", """
glimpse store verify data/features                     # against the dataset it was extracted from
glimpse store verify data/features --data videos/      # against another copy of the dataset
glimpse store merge feats/ shard0/ shard1/ shard2/     # join stores extracted with --shard""")
    ops = p.add_subparsers(dest="op", metavar="OP", required=True)
    m = _parser("merge", ops, "join stores extracted the same way (e.g. with --shard) into one",
                """
glimpse store merge feats/ shard0/ shard1/""")
    m.add_argument("out", type=Path, help="the joined store (created, or extended)")
    m.add_argument("stores", type=Path, nargs="+")
    m.set_defaults(func=_store_merge)
    v = _parser("verify", ops, "prove a store complete: every dataset video present once, every "
                "array whole (header, length, sha256); exit 0 complete, 1 videos missing, 3 "
                "corrupt entries", """
glimpse store verify data/features
glimpse store verify data/features --data list.txt --root videos/""")
    v.add_argument("store", type=Path)
    v.add_argument("--data", type=Path,
                   help="dataset folder or list file (default: the one the store records)")
    v.add_argument("--root", type=Path, help="root of the paths in a list file")
    v.set_defaults(func=_store_verify)


def _store_merge(a):
    from glimpse.features.store import FeatureStore

    first = FeatureStore(a.stores[0])
    out = FeatureStore(a.out)
    out.create_or_check(first.feature, first.streams, first.labels,
                        source=first.manifest.get("source"))
    out.clean_stale()
    for s in a.stores:
        copied, had = out.merge_from(FeatureStore(s))
        print(f"{s}: {copied} entries copied, {had} already in {a.out}")
    print(f"{len(out)} entries in {a.out}; check it with 'glimpse store verify {a.out}'")
    return 0


def _store_verify(a):
    from glimpse.datasets.layouts import load_dataset
    from glimpse.features.store import FeatureStore, entry_id

    store = FeatureStore(a.store)
    data = a.data or store.source
    expected = None
    if data is not None and Path(data).exists():
        items, _ = load_dataset(data, a.root)
        expected = [entry_id(it.relpath) for it in items]
    r = store.verify(expected)
    for eid, why in sorted(r["corrupt"].items()):
        print(f"corrupt: {eid}: {why}")
    for eid in r["missing"]:
        print(f"missing: {eid}")
    for eid in r["unexpected"]:
        print(f"not in the dataset: {eid}")
    where = f"against {data}" if expected is not None else \
        "(no dataset to check completeness against: give --data)"
    print(f"{len(r['ok'])} entries whole, {len(r['corrupt'])} corrupt, {len(r['missing'])} "
          f"missing {where}" + (f"; {len(r['unchecked'])} without checksums (written by glimpse "
                                f"0.1): headers and lengths checked only" if r["unchecked"] else ""))
    return 3 if r["corrupt"] else 1 if r["missing"] else 0


# -- train ----------------------------------------------------------------------------------
PAPERS = {"structured": "paper 000", "none": "paper 000", "soft": "paper 002",
          "avgpool": "paper 002", "maxpool": "paper 002", "softmax-regression": "paper 002",
          "rstan": "paper 001", "joint": "paper 003", "reinforce": "paper 004"}
_OPTION_TYPES = {"int": int, "float": float, "str": str}


def _model_option_fields() -> dict:
    """Every model option that ``glimpse train`` offers: name -> [(model, Field), ...]."""
    from glimpse.models import MODELS
    from glimpse.models.options import described

    found: dict = {}
    for name, cls in MODELS.items():
        for f in described(cls.Config):
            if f.metadata["cli"]:
                found.setdefault(f.name, []).append((name, f))
    return found


def _option_parser(f):
    """An argparse type from an option's type and check."""
    from glimpse.settings import POSITIVE, base_type

    cast = _OPTION_TYPES[base_type(f)]
    c = f.metadata["check"]
    if c is None:
        return cast
    if c is POSITIVE and cast is float:
        cast = int
    return _number(cast, c.ok, c.want)


def _add_model_options(p) -> None:
    """--model and one flag per model option, built from the models' Configs
    (glimpse.models.options): an option most models share in the model group, the others in
    the group of their paper; its help gives each model's default and, where the models'
    meanings differ, each model's."""
    from glimpse.models import MODELS
    from glimpse.models.options import default_of

    shared = p.add_argument_group("model (unset options take the model's paper default)")
    shared.add_argument("--model", choices=list(MODELS),
                        help="the model (required, on the command line or in --config)")
    groups: dict = {}
    for option, owners in _model_option_fields().items():
        first, f = owners[0]
        meta = f.metadata
        helps: dict = {}  # help -> the models that give it
        defaults: dict = {}  # default -> the models that have it
        for m, o_f in owners:
            helps.setdefault(o_f.metadata["help"], []).append(m)
            defaults.setdefault(default_of(o_f), []).append(m)
        text = meta["help"] if len(helps) == 1 else \
            "; ".join(f"{', '.join(ms)}: {h}" for h, ms in helps.items())
        if f.type != "bool" and len(defaults) > 1:
            text += " (default " + "; ".join(f"{d} for {', '.join(ms)}"
                                              for d, ms in defaults.items()) + ")"
        elif f.type != "bool" and default_of(f) not in (None, ""):
            text += f" (default {default_of(f)})"
        key = PAPERS.get(first, first)
        title = f"{key}: {', '.join(m for m, v in PAPERS.items() if v == key)}"
        g = shared if len(owners) > len(MODELS) // 2 else \
            groups.get(title) or groups.setdefault(title, p.add_argument_group(title))
        dashed = option.replace("_", "-")
        if f.type == "bool":
            flag, const = (f"--no-{dashed}", False) if default_of(f) else (f"--{dashed}", True)
            text += " (on by default)" if default_of(f) else ""
            g.add_argument(flag, dest=option, action="store_const", const=const, help=text)
            continue
        choices = [c for _, o_f in owners for c in (o_f.metadata["choices"] or ())]
        g.add_argument(f"--{dashed}", dest=option, type=_option_parser(f), help=text,
                       choices=list(dict.fromkeys(c for c in choices if c != "")) or None)
        if option == "baseline":  # the older spelling
            g.add_argument("--no-baseline", dest="baseline", action="store_const",
                           const="none", help="REINFORCE without a baseline (= --baseline none)")


def _model_defaults() -> str:
    from dataclasses import fields

    from glimpse.models import MODELS, model_options

    lines = []
    for name, cls in MODELS.items():
        opts = ", ".join(f"{f.name}={f.default}" for f in fields(cls.Config))
        lines.append(f"  {name:<19} reads {'+'.join(cls.reads(model_options(name)))}; {opts}")
    return "\n".join(lines)


def _add_train(sub):

    p = _parser("train", sub, "train an attention model on a feature store (resumable)", """
glimpse train /tmp/features --model structured --out runs/structured
glimpse train feats/ --model structured --lam 0 --out runs/classic      # paper 000's classic attention
glimpse train feats/ --model structured --block-side 4 --block-stride 2 --out runs/overlap
glimpse train feats/ --model soft --epochs 20 --batch-size 64 --lr 1e-3 --out runs/soft
glimpse train feats2/ --model avgpool --stream rgb+flow --out runs/avgpool-two-stream
glimpse train feats2/ --model rstan --hidden 256 --clip-len 16 --eval-clip-len 32 --out runs/rstan
glimpse train feats2/ --model rstan --stream rgb --window current --out runs/rstan-current
glimpse train feats3/ --model joint --width 64 --hidden 256 --fusion late --out runs/joint
glimpse train feats/ --model reinforce --glimpses 2 --glimpse-steps 5 --out runs/hard
glimpse train feats/ --model soft --out runs/soft --epochs 30           # extend a finished run
glimpse train --config runs/soft/config.json --out runs/soft-again      # a run's settings, re-run
glimpse train --config soft.yaml --seed 3 --out runs/soft-seed3         # a file; flags override
glimpse train --config soft.yaml --recipe paper001 --print-config       # what it would train""")
    p.epilog += "\n\nmodels, the streams they read and their options (paper defaults):\n" + \
        _model_defaults() + "\nAn option a model does not have is refused." + \
        "\n\nrecipes (--recipe NAME; the run's config.json records it):\n" + describe_recipes()
    p.add_argument("features", type=Path, nargs="?",
                   help="feature store made by 'glimpse extract' (or named in --config)")
    p.add_argument("--config", type=Path,
                   help="a YAML or JSON file of settings: a run's config.json (re-runs it as "
                        "it is), or a mapping of this command's options, e.g. {model: soft, "
                        "hidden: 128, epochs: 20, features: feats/}; flags given here win")
    p.set_defaults(_parser=p)
    p.add_argument("--out", type=Path,
                   help="run folder (re-run to resume; raise --epochs to extend a finished run; "
                        "required, here or in --config)")
    _add_model_options(p)
    groups = {}
    for f in fields(TrainConfig):  # every training setting, as TrainConfig declares it
        group = f.metadata["group"]
        if group != "device":  # (--device and --amp: below, as for every command)
            _add_setting(groups.get(group) or groups.setdefault(group, p.add_argument_group(
                group)), f)
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved settings (the model's options with its paper "
                        "defaults filled in, every training setting, after --recipe, --config "
                        "and the flags) as JSON, and stop: nothing is trained or written")
    groups["optimization"].add_argument(
        "--no-tensorboard", dest="tensorboard", action="store_false",
        help="write no TensorBoard event files (default: in the run folder, beside log.csv; "
             "view with 'tensorboard --logdir RUN')")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_train)


def _check_cuda(device: str) -> None:
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise GlimpseError(f"--device {device}: not a device torch knows (cpu, cuda, cuda:1, "
                           f"mps, ...)") from None
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise GlimpseError(f"--device {device}: CUDA is not available here; use --device cpu")


def read_train_config(path: Path, known: set[str]) -> dict:
    """A --config file's settings (``glimpse.config.read_settings``: parsed, its training
    settings checked) as this command's option names; an unknown name, a model glimpse does
    not have, or a model option the model lacks or refuses is one line naming the file. A
    run's testing-only options at their defaults (reinforce's ``force``) have no flag and are
    left out."""
    from glimpse.models import MODELS, model_options

    values = read_settings(path)
    model = values.get("model")
    if model is not None:
        if model not in MODELS:
            raise GlimpseError(f"{path}: model must be one of {', '.join(MODELS)}, got '{model}'")
        defaults = model_options(model)
        values = {k: v for k, v in values.items()
                  if k in known or k not in defaults or v != defaults[k]}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GlimpseError(f"--config {path}: unknown setting(s) {', '.join(unknown)} (known: "
                           f"{', '.join(sorted(known))})")
    if model is not None:
        offered = _model_option_fields()  # every model's options (the flags' dests)
        try:
            model_options(model, {k: v for k, v in values.items() if k in offered})
        except GlimpseError as e:
            raise GlimpseError(f"{path}: {e}") from None
    return values


def _with_config(parser, args, argv):
    """Parse again with the --config file's settings and the --recipe's (the line's, else the
    file's) as defaults: flags on the line win over the file, the file over the recipe."""
    sub = args._parser
    known = {a.dest for a in sub._actions} - {"help", "config", "_parser"}
    values = read_train_config(args.config, known) if args.config is not None else {}
    recipe = getattr(args, "recipe", None) or values.get("recipe")
    model = getattr(args, "model", None) or values.get("model")
    sub.set_defaults(**{**recipe_defaults(recipe, model), **values})
    return parser.parse_args(argv)


def _train(a):
    import json

    from glimpse.models import model_options
    from glimpse.train import train

    if a.features is None or a.model is None or a.out is None:
        raise GlimpseError("give the feature store, --model and --out, on the command line or "
                           "in --config")
    options = {k: getattr(a, k) for k in _model_option_fields() if getattr(a, k) is not None}
    resolved = model_options(a.model, options)  # an option the model lacks fails here
    tc = TrainConfig(**{f.name: getattr(a, f.name) for f in fields(TrainConfig)})
    if a.print_config:
        print(json.dumps({"features": str(a.features), "out": str(a.out), "model": a.model,
                          "options": resolved, "train": tc.to_dict()}, indent=1))
        return 0
    _check_device(a.device, a.amp)
    best = train(a.features, a.out, a.model, options, tc, progress=not a.quiet,
                 tensorboard=a.tensorboard)
    print(f"best validation top-1 {best['val_top1']:.3f} at epoch {best.get('epoch')} -> "
          f"{a.out / 'best.safetensors'}")
    return 0


# -- evaluate ---------------------------------------------------------------------------------
def _rule(text: str) -> str:
    from glimpse.models.output import check_rule

    try:
        return check_rule(text)
    except GlimpseError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_evaluate(sub):
    p = _parser("evaluate", sub, "metrics of a run's best model on a split -> RUN/metrics.json", """
glimpse evaluate runs/structured
glimpse evaluate runs/soft --video-rule mean          # paper 002 / MMAction2: mean clip score
glimpse evaluate runs/structured --split val
glimpse evaluate runs/structured --features /new/place/of/the/store
glimpse evaluate runs/hard --test-samples 5            # reinforce: mean of 5 sampled episodes
glimpse evaluate runs/hard --force-glimpse actor       # reinforce: made to look at the actor
glimpse evaluate runs/rstan --video-rule mean --temporal-views   # paper 001's temporal test
glimpse evaluate runs/rstan --video-rule mean --temporal-views --crops   # and its 10 crops
glimpse evaluate runs/anet --split unlabelled --activitynet-json anet_test.json  # for the server""")
    p.add_argument("run", type=Path)
    p.add_argument("--split", default="test",
                   help="test (default), val, train, or unlabelled (videos whose labels are "
                        "withheld, ActivityNet's testing subset: predictions, no metrics)")
    p.add_argument("--activitynet-json", type=Path, metavar="FILE",
                   help="also write the scores as ActivityNet's evaluation server takes them "
                        "(version, results: every class's score per video id, external_data)")
    _add_video_rule(p, "evaluate", "; default vote, or mean with --temporal-views")
    p.add_argument("--clip-rule", type=_rule,
                   help="clip score: mean (of y(t) over the clip: 000, 002), last (step: 001), "
                        "last-L (mean of the last L steps) or vote-last-L (majority of their "
                        "argmax: 003); default: the model's own rule")
    _add_features(p)
    p.add_argument("--test-samples", type=_positive,
                   help="reinforce: score the mean of S sampled episodes instead of the greedy "
                        "policy (paper 004's sampled testing; no retraining)")
    p.add_argument("--force-glimpse", choices=["actor", "centre", "random", "background"],
                   help="reinforce: make the agent look at the actor's cells (the store's actor "
                        "masks), the centre, random cells or the background, to measure what "
                        "looking is worth (no retraining)")
    p.add_argument("--temporal-views", action="store_true",
                   help="runs that sample clips uniformly (rstan): one clip from each of the "
                        "first 2/3, the last 2/3 and the whole video, their scores averaged "
                        "unless --video-rule vote is given (paper 001's temporal multi-scale "
                        "test)")
    p.add_argument("--crops", action="store_true",
                   help="score each clip as the mean over its video's spatial test crops (added "
                        "with 'glimpse extract ... --crops 10'; paper 001's 10-crop test)")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_evaluate)


def _evaluate(a):
    from glimpse.amp import autocast
    from glimpse.evaluate import evaluate_run
    from glimpse.features.clips import TEMPORAL_VIEWS

    _check_device(a.device, a.amp)
    options = {k: v for k, v in (("test_samples", a.test_samples),
                                 ("force", a.force_glimpse)) if v} or None
    video_rule = a.video_rule or ("mean" if a.temporal_views else "vote")
    with autocast(a.amp, a.device):
        m = evaluate_run(a.run, split=a.split, video_rule=video_rule, clip_rule=a.clip_rule,
                         features=a.features, device=a.device, progress=not a.quiet,
                         options=options,
                         views=TEMPORAL_VIEWS if a.temporal_views else ("whole",),
                         crops=a.crops, activitynet_json=a.activitynet_json)
    written = [a.run / f"predictions_{m['split']}.csv",
               *([a.activitynet_json] if a.activitynet_json else [])]
    if m.get("labelled") is False:
        print(f"{m['model']} on {m['split']} ({m['num_videos']} videos, labels withheld): no "
              f"metrics")
        print("-> " + ", ".join(map(str, written)))
        return 0
    line = (f"{m['model']} on {m['split']} ({m['num_videos']} videos, clip {m['clip_rule']}, "
            f"video {m['video_rule']}): top-1 {m['top1']:.3f}  top-5 {m['top5']:.3f}  "
            f"mean class {m['mean_class_accuracy']:.3f}")
    if m.get("test_options"):
        line += " with " + ", ".join(f"{k} = {v}" for k, v in m["test_options"].items())
    if m.get("views"):
        line += f"; a clip from each of: {', '.join(m['views'])}"
    if m.get("crops"):
        line += f"; scores averaged over {len(m['crops'])} crops"
    if m.get("segments"):
        sg = m["segments"]
        line += (f"\nsegments: mean temporal IoU {sg['mean_tiou']:.3f} with the annotations, "
                 f"{sg['tiou>=0.5']:.2f} of {sg['videos']} videos at >= 0.5 (clips firing at "
                 f">= 0.5; not a detection mAP)")
    if "attention" in m and m["attention"].get("steps"):
        at = m["attention"]
        line += (f"\nattention: mass on actor {at['mass_in_mask']:.3f} (uniform "
                 f"{at['uniform_mass_in_mask']:.3f}), pointing {at['pointing']:.3f}, "
                 f"entropy {at['entropy']:.2f} of {at['max_entropy']:.2f} nats")
    print(line)
    print("-> " + ", ".join(map(str, [a.run / "metrics.json", *written])))
    return 0


# -- predict ----------------------------------------------------------------------------------
def _add_predict(sub):
    p = _parser("predict", sub, "label, scores and attention of a run's model on one video", """
glimpse predict runs/structured clip.mp4
glimpse predict runs/structured clip.mp4 --overlay clip_attention.gif
glimpse predict runs/structured clip.mp4 --json > clip.json
glimpse predict runs/structured long.mp4 --timeline out/long      # what happens when: json, png, html
glimpse predict runs/structured long.mp4 --timeline out/long --window 2 --window-stride 0.5
glimpse predict runs/structured rtsp://camera.local/stream --save seen.json   # live: a line a window
cat clip.mkv | glimpse predict runs/structured -                           # an encoded stream on stdin""")
    p.add_argument("run", type=Path)
    p.add_argument("video", help="a video file or frame folder; or a live source: a URL PyAV "
                                 "opens (rtsp://, http://, udp://), a v4l2 device (/dev/video0) "
                                 "or - for an encoded stream on stdin")
    p.add_argument("--json", action="store_true", help="scores and the (T, K, K) attention as JSON")
    p.add_argument("--overlay", type=Path,
                   help="also write the attention over the video: .gif, .webp, .mp4, .webm, "
                        "or .png for a still strip")
    p.add_argument("--weights", type=Path, help="backbone weights file, if the run's needs one")
    p.add_argument("--flow-weights", type=Path,
                   help="the flow network's weights file, if the run's flow stream came from one")
    t = p.add_argument_group("long videos (--timeline) and live sources")
    t.add_argument("--timeline", type=Path, metavar="DIR",
                   help="slide windows over the video: DIR/timeline.json (each window's top "
                        "classes and most attended cell), timeline.png (classes against time), "
                        "overlay.webm and timeline.html (the video, the timeline and the "
                        "windows in sync)")
    t.add_argument("--window", type=_positive_float, metavar="SECONDS",
                   help="window length (default: one clip's span)")
    t.add_argument("--window-stride", type=_positive_float, metavar="SECONDS",
                   help="between window starts (default: half a window)")
    t.add_argument("--top-k", type=_positive, default=3, help="classes listed a window (3)")
    t.add_argument("--save", type=Path, default=Path("glimpse-live.json"),
                   help="live sources: the windows seen, written at the end of the stream or on "
                        "Ctrl-C (default glimpse-live.json)")
    t.add_argument("--threshold", type=_fraction, default=0.5,
                   help="multi-label runs: a class's windows at or above this score join into "
                        "detected segments (default 0.5)")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_predict)


SHOWN_WINDOWS = 12  # a long video's windows and attention lines printed; the rest in files


def _window_line(w: dict) -> str:
    return f"{w['start']:7.1f}-{w['end']:7.1f}s  " + ", ".join(f"{n} {sc:.2f}"
                                                              for n, sc in w["top"])


def _predict(a):
    import json

    from glimpse.amp import autocast
    from glimpse.predict import describe_attention, is_live, predict_video

    _check_device(a.device, a.amp)
    if is_live(a.video):
        return _predict_live(a)
    a.video = Path(a.video)
    with autocast(a.amp, a.device):
        r = predict_video(a.run, a.video, weights=a.weights, flow_weights=a.flow_weights,
                          device=a.device, progress=not a.quiet and sys.stderr.isatty())
    if a.overlay:
        from glimpse.viz.animate import write_overlay

        write_overlay(a.overlay, a.video, r)
    if a.timeline:
        from glimpse.timeline import windows, write_timeline

        labels = list(r["scores"])
        wins = windows(r, labels, length=a.window, stride=a.window_stride, top_k=a.top_k)
        doc = write_timeline(a.timeline, a.video, r, wins, labels, threshold=a.threshold)
        if not a.json:  # a long video: its first and last windows here, all in the files
            half = SHOWN_WINDOWS // 2
            head, tail = (wins, []) if len(wins) <= SHOWN_WINDOWS else (wins[:half],
                                                                        wins[-half:])
            for w in head:
                print(_window_line(w))
            if tail:
                print(f"   ... {len(wins) - SHOWN_WINDOWS} more windows in "
                      f"{a.timeline / 'timeline.json'}")
            for w in tail:
                print(_window_line(w))
            for seg in doc.get("segments", []):
                print(f"segment {seg['label']}: {seg['start']:.1f}-{seg['end']:.1f}s "
                      f"(max {seg['score']:.2f})")
            print(f"-> {a.timeline / 'timeline.html'}")
    if a.json:
        att = None if r["attention"] is None else \
            [[[None if v != v else round(float(v), 5) for v in row] for row in frame]
             for frame in r["attention"]]
        print(json.dumps({k: r[k] for k in ("video", "model", "label", "score", "top5", "scores",
                                            "clips", "times")} | {"attention": att}))
        return 0
    print(f"{a.video}: {r['label']} ({r['score']:.3f})")
    print("top-5: " + ", ".join(f"{n} {s:.3f}" for n, s in r["top5"]))
    print(f"where it looked ({r['model']}, {r['clips']} clips):")
    span = r["times"][-1] - r["times"][0] if r["times"] else 0.0
    every = float(int(span / SHOWN_WINDOWS) + 1) if span > SHOWN_WINDOWS else 1.0
    print("\n".join(describe_attention(r["attention"], r["times"], every=every)))
    if every > 1:
        print(f"  (every {every:g} s; each frame's attention: --json)")
    if a.overlay:
        print(f"overlay: {a.overlay}")
    return 0


def _predict_live(a) -> int:
    """A live source: one line a window as it is scored; the windows seen saved at the end of
    the stream, on Ctrl-C, or when the source fails mid-way (then the error, in one line)."""
    import json
    import signal

    from glimpse.amp import autocast
    from glimpse.io import write_json_atomic
    from glimpse.predict import predict_live

    seen: list = []

    def show(w):
        seen.append(w)
        if a.json:  # JSON Lines: one object a window, as it is scored
            print(json.dumps({**w, "top": w["top"][:a.top_k]}), flush=True)
            return
        print(f"{w['start']:8.2f}-{w['end']:8.2f}s  " +
              ", ".join(f"{n} {s:.2f}" for n, s in w["top"][:a.top_k]), flush=True)

    interrupted: list = []  # Ctrl-C, however it unwinds: a KeyboardInterrupt here, or inside
    # the decoder's blocking read, where FFmpeg may end the stream quietly or with an error

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    stopped, failed = False, None
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with autocast(a.amp, a.device):
            predict_live(a.run, a.video, on_window=show, weights=a.weights, device=a.device)
    except KeyboardInterrupt:
        stopped = True
    except (GlimpseError, OSError) as e:  # the source broke off: keep what was seen
        if not seen and not interrupted:
            raise
        failed = None if interrupted else e
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped = stopped or bool(interrupted)
    record = {"source": a.video, "windows": seen, "stopped": stopped}
    if failed is not None:
        record["error"] = str(failed).splitlines()[0] if str(failed) else type(failed).__name__
    write_json_atomic(a.save, record)
    print(f"{len(seen)} windows{' (stopped)' if stopped else ''} -> {a.save}",
          file=sys.stderr if a.json else sys.stdout)  # --json: stdout holds JSON only
    if failed is not None:
        raise failed
    return 0


# -- report ---------------------------------------------------------------------------------
def _add_report(sub):
    p = _parser("report", sub, "a self-contained HTML report of one run, or several side by side", """
glimpse report runs/structured                          # -> runs/structured/report/index.html
glimpse report runs/structured runs/classic --out cmp   # paper 000 Fig. 6 style comparison
glimpse report runs/* --out all --videos 20
glimpse report runs/structured --features /new/place/of/the/store""")
    p.add_argument("runs", type=Path, nargs="+", help="run folders trained on the same features")
    p.add_argument("--out", type=Path, help="report folder (default RUN/report)")
    p.add_argument("--videos", type=_positive, default=40, help="videos in the gallery")
    p.add_argument("--split", default="test", help="the split the metrics and gallery use")
    _add_features(p)
    _add_quiet(p)
    p.set_defaults(func=_report)


def _report(a):
    from glimpse.viz.report import make_report

    page = make_report(a.runs, a.out, videos=a.videos, split=a.split, features=a.features,
                       progress=not a.quiet)
    size = sum(f.stat().st_size for f in page.parent.rglob("*") if f.is_file())
    print(f"report: {page} ({size / 1e6:.1f} MB)")
    return 0


# -- probe ------------------------------------------------------------------------------------
def _add_probe(sub):
    p = _parser("probe", sub, "a linear probe on a store's features: the reference row for every "
                "model", """
glimpse probe data/features --out runs/probe                     # mean + std of pooled features
glimpse probe data/features --actor --out runs/probe-actor       # only the actor's cells
glimpse probe data/features2 --stream flow --out runs/probe-flow  # what the flow stream holds
glimpse probe data/features --statistics mean --out runs/probe-mean  # what pooling over time reads
glimpse compare runs/probe runs/structured                       # a model against the probe""")
    p.add_argument("features", type=Path)
    p.add_argument("--out", type=Path, required=True, help="probe folder (metrics, predictions)")
    p.add_argument("--actor", action="store_true",
                   help="pool only the cells the actor covers (ideal attention; needs masks)")
    p.add_argument("--stream", default="rgb",
                   help="cube stream(s): rgb (default), flow, rgb_level2, or several joined by + "
                        "(their vectors concatenated)")
    p.add_argument("--statistics", default="mean+std",
                   help="what of the pooled feature over a video's frames: mean+std (default), "
                        "mean (what a model that pools over time reads) or std (only how the "
                        "features change)")
    for name in ("split_seed", "test_fraction", "val_fraction"):  # the groups, as for train
        _add_setting(p, _train_setting(name))
    p.set_defaults(func=_probe)


def _probe(a):
    from glimpse.probe import run_probe

    m = run_probe(a.features, a.out, actor=a.actor, stream=a.stream, split_seed=a.split_seed,
                  test_fraction=a.test_fraction, val_fraction=a.val_fraction,
                  statistics=a.statistics)
    print(f"{m['model']} on test ({m['num_videos']} videos): top-1 {m['top1']:.3f}  top-5 "
          f"{m['top5']:.3f}  (weight decay {m['weight_decay']:g} chosen on validation)")
    print(f"-> {a.out / 'metrics.json'}")
    return 0


# -- export -----------------------------------------------------------------------------------
def _add_export(sub):
    p = _parser("export", sub, "a run as one artifact from frames to class scores and attention "
                "(backbone included; torch.export .pt2 or ONNX)", """
glimpse export runs/soft soft.pt2     # torch.export: torch.export.load('soft.pt2').module()(frames)
glimpse export runs/soft soft.onnx    # ONNX, for onnxruntime (pip install 'glimpse[export]')
glimpse export runs/vgg vgg.onnx --weights vgg16.pth   # a backbone whose weights the user holds""")
    p.epilog += ("\n\nThe artifact takes one clip, uint8 frames (T, S, S, 3) at the run's input "
                 "size, and returns its class scores (C,) by the model's rule and, for models "
                 "with spatial attention, the attention (T, K, K); OUT.json lists the labels, T, "
                 "S and the outputs. A run that reads optical flow cannot be exported "
                 "(docs/export.md).")
    p.add_argument("run", type=Path)
    p.add_argument("out", type=Path, help="the artifact: NAME.pt2 or NAME.onnx (and NAME.*.json)")
    p.add_argument("--weights", type=Path, help="the backbone's weights file, where the run's "
                   "backbone needs one (as for predict)")
    p.add_argument("--opset", type=_positive, help="ONNX opset (default: torch's)")
    p.set_defaults(func=_export)


def _export(a):
    from glimpse.export import export_run

    out = export_run(a.run, a.out, weights=a.weights, opset=a.opset)
    print(f"-> {out} ({out.stat().st_size / 1e6:.1f} MB) and {out.name}.json")
    return 0


# -- fuse -------------------------------------------------------------------------------------
def _add_fuse(sub):
    p = _parser("fuse", sub, "score fusion: the mean of several runs' video scores (paper 001's "
                "two-stream baseline), written as a folder compare reads like a run", """
glimpse fuse runs/rstan-rgb runs/rstan-flow --out runs/rstan-score-fusion
glimpse compare runs/rstan-score-fusion runs/rstan        # A-M fusion against score fusion""")
    p.add_argument("runs", type=Path, nargs="+", help="two or more runs evaluated on one split")
    p.add_argument("--out", type=Path, required=True, help="fusion folder (metrics, predictions)")
    p.add_argument("--split", default="test")
    _add_video_rule(p, "fuse")
    _add_features(p)
    p.set_defaults(func=_fuse)


def _fuse(a):
    from glimpse.compare import fuse_runs

    m = fuse_runs(a.runs, a.out, split=a.split, video_rule=a.video_rule, features=a.features,
                  progress=True)
    print(f"score fusion of {len(a.runs)} runs on {m['split']} ({m['num_videos']} videos): "
          f"top-1 {m['top1']:.3f}, mean class accuracy {m['mean_class_accuracy']:.3f} -> {a.out}")
    return 0


# -- compare ----------------------------------------------------------------------------------
def _add_compare(sub):
    p = _parser("compare", sub, "is one run really better than another? paired difference, "
                "95% bootstrap interval, exact McNemar test", """
glimpse compare runs/classic runs/structured            # structured vs classic, same test videos
glimpse compare runs/none runs/classic runs/structured  # each later run against the first
glimpse compare runs/none_s0 runs/none_s1 runs/none_s2 --vs runs/st_s0 runs/st_s1 runs/st_s2
glimpse compare runs/a runs/b --json""")
    p.add_argument("runs", type=Path, nargs="+",
                   help="A then B [C ...] (each against A); with --vs: the A run of each seed")
    p.add_argument("--vs", type=Path, nargs="+",
                   help="the B run of each seed, in the same order as the A runs")
    p.add_argument("--split", default="test")
    _add_video_rule(p, "compare")
    _add_features(p)
    p.add_argument("--json", action="store_true", help="one JSON object per comparison")
    _add_quiet(p)
    p.set_defaults(func=_compare)


def _compare(a):
    import json

    from glimpse.compare import compare_runs

    if a.vs:
        pairs = [(a.runs, a.vs)]
    elif len(a.runs) >= 2:
        pairs = [([a.runs[0]], [r]) for r in a.runs[1:]]
    else:
        raise GlimpseError("compare needs two runs (A B), or A runs --vs B runs")
    for ra, rb in pairs:
        c = compare_runs(ra, rb, split=a.split, video_rule=a.video_rule, features=a.features,
                         progress=not a.quiet)
        if a.json:
            print(json.dumps(c.to_dict()))
        else:
            print(f"A = {c.a}\nB = {c.b}\n{c.line()}")
    return 0


# -- demo -------------------------------------------------------------------------------------
def _add_demo(sub):
    p = _parser("demo", sub, "the main job: synth -> extract -> train rstan, soft, avgpool -> "
                "evaluate -> report", """
glimpse demo                     # everything under demo-out/, the report at demo-out/report/
glimpse demo --out /tmp/demo     # a second run reuses every finished stage""")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    _add_quiet(p)
    p.set_defaults(func=_demo)


def _demo(a):
    from glimpse.demo import run_demo

    r = run_demo(a.out, progress=not a.quiet)
    print(f"\n{'model':<12} {'top-1':>6} {'top-5':>6} {'mean class':>10} {'mass on actor':>14} "
          f"{'pointing':>9}")
    for name, m in r["metrics"].items():
        at = m.get("attention", {})
        print(f"{name:<12} {m['top1']:>6.3f} {m['top5']:>6.3f} {m['mean_class_accuracy']:>10.3f} "
              f"{at.get('mass_in_mask', float('nan')):>8.3f} ({at.get('uniform_mass_in_mask', float('nan')):.3f})"
              f" {at.get('pointing', float('nan')):>9.3f}")
    c = r["contrast"]
    print(f"\n{c.b} over {c.a} on the same {c.videos} test videos: {100 * c.diff:+.1f} points "
          f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}] ({c.method}; McNemar p = "
          f"{c.p_mcnemar:.2g})")
    print(f"\nreport: {r['report']}   ({r['seconds'] / 60:.1f} min)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glimpse", description="Attention-based recurrent action recognition in video.",
        epilog="run 'glimpse COMMAND --help' for a command's options and examples")
    parser.add_argument("--version", action="version", version=f"glimpse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_synth(sub)
    _add_extract(sub)
    _add_store(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_report(sub)
    _add_probe(sub)
    _add_fuse(sub)
    _add_compare(sub)
    _add_export(sub)
    _add_demo(sub)
    return parser


OS_ADVICE = {errno.ENOSPC: "free some space (or write elsewhere) and run the command again: "
                           "finished work is kept, nothing half-written is trusted",
             errno.EDQUOT: "the disk quota is used up: free some space and run it again",
             errno.EACCES: "check the permissions of that path, or write elsewhere",
             errno.EPERM: "check the permissions of that path, or write elsewhere",
             errno.EROFS: "that filesystem is read-only: write elsewhere",
             errno.ENOENT: "it vanished while glimpse was working: check the path and run "
                           "the command again",
             errno.EEXIST: "a file is where glimpse writes a folder: give another path",
             errno.ENOTDIR: "a file is where a folder belongs on that path: give another path",
             errno.EISDIR: "a folder is where glimpse writes a file: give another path"}


def os_error_line(e: OSError) -> str:
    """One line for an OSError: what the system said, the path, what to do."""
    where = f": {e.filename}" if e.filename else ""
    what = e.strerror or str(e)
    advice = OS_ADVICE.get(e.errno, "run the command again once that is fixed")
    return f"{what}{where} ({advice})"


def library_error_line(e: Exception) -> str | None:
    """One line for the errors libraries raise about files and devices that are not OSError
    (safetensors' own error on a read-only folder or a damaged checkpoint, a file that is not
    UTF-8, torch's device and unpickling refusals, PyAV's decoding errors, an image PIL cannot
    read): the library's message cut to its first line. None for anything else (a bug: its
    traceback is what a report needs)."""
    kinds = {"SafetensorError", "UnicodeDecodeError", "UnpicklingError", "InvalidDataError",
             "FFmpegError", "UnidentifiedImageError", "DecompressionBombError"}
    names = {c.__name__ for c in type(e).__mro__}
    # the device's own refusals, not any message that names a device (tensors on two devices
    # is a bug, whose traceback is what a report needs)
    device = isinstance(e, RuntimeError) and any(w in str(e) for w in (
        "CUDA", "out of memory", "NVIDIA driver", "MPS backend"))
    if not (names & kinds or device):
        return None
    text = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
    return f"{type(e).__name__}: {text[:300]}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "config", None) is not None or getattr(args, "recipe", None):
            args = _with_config(parser, args, argv)
        return args.func(args)
    except GlimpseError as e:
        print(f"glimpse: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the machine refused: a full disk, permissions, a vanished file
        print(f"glimpse: error: {os_error_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a library's own error about a file or a device: one line
        line = library_error_line(e)
        if line is None:
            raise
        print(f"glimpse: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("glimpse: interrupted", file=sys.stderr)
        return 130
    finally:
        distributed.finish()
