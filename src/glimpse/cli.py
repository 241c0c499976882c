"""The ``glimpse`` command: subcommands only. Each parses its options, calls one function, prints.

A GlimpseError becomes one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from glimpse import GlimpseError, __version__


def _size(text: str) -> tuple[int, int]:
    try:
        w, _, h = text.lower().partition("x")
        return int(w), int(h or w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or SIDE, got '{text}'") from None


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
    return sub.add_parser(name, help=help, description=help,
                          epilog="examples:\n" + textwrap.indent(examples.strip(), "  "),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


# -- synth ------------------------------------------------------------------------------------
def _add_synth(sub):
    p = _parser("synth", sub, "write the SynthActions benchmark as encoded videos + actor masks", """
glimpse synth /tmp/synth
glimpse synth /tmp/s --classes 10 --groups 3 --clips-per-group 2 --frames 40 --seed 0
glimpse synth /tmp/hard --actor-scale 0.3,0.4 --distractors 4 --jitter 5 --ext .mp4""")
    p.add_argument("out", type=Path, help="output folder (UCF-11 layout: class/group_XX/clip.ext)")
    g = p.add_argument_group("size")
    g.add_argument("--classes", type=int, default=10, help="number of action classes (1-10)")
    g.add_argument("--groups", type=int, default=5, help="groups per class (scene + actor)")
    g.add_argument("--clips-per-group", type=int, default=4)
    g.add_argument("--frames", type=int, default=40, help="frames per clip")
    g.add_argument("--fps", type=int, default=25, help="frame rate of the encoded clips")
    g.add_argument("--size", type=_size, default=(256, 256), help="WIDTHxHEIGHT (default 256x256)")
    g.add_argument("--ext", default=".avi",
                   help=".avi (MPEG-4 part 2, default, bit-reproducible), .mp4 (H.264), .mpg, .webm")
    g.add_argument("--seed", type=int, default=0)
    d = p.add_argument_group("difficulty")
    d.add_argument("--actor-scale", type=_range, default=(0.42, 0.58),
                   help="actor height as a fraction of the frame, MIN,MAX")
    d.add_argument("--distractors", type=int, default=2, help="moving distractor objects")
    d.add_argument("--jitter", type=float, default=3.0, help="camera shake in pixels")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    p.set_defaults(func=_synth)


def _synth(a):
    from glimpse.synth import SynthConfig, generate
    from glimpse.synth.scene import Difficulty

    cfg = SynthConfig(classes=a.classes, groups=a.groups, clips_per_group=a.clips_per_group,
                      frames=a.frames, fps=a.fps, width=a.size[0], height=a.size[1], ext=a.ext,
                      seed=a.seed, difficulty=Difficulty(actor_scale=a.actor_scale,
                                                         distractors=a.distractors,
                                                         jitter=a.jitter))
    rels = generate(a.out, cfg, jobs=a.jobs)
    print(f"wrote {len(rels)} clips of {cfg.classes} classes to {a.out}")
    print(f"contact sheet: {a.out / 'contact_sheet.png'}")
    return 0


# -- extract ----------------------------------------------------------------------------------
def _add_extract(sub):
    p = _parser("extract", sub, "decode videos, run the frozen backbone, write the feature store", """
glimpse extract /tmp/synth /tmp/features
glimpse extract ucf11/ feats/ --fps 0 --pooled
glimpse extract list.txt feats/ --root videos/ --backbone inception_v3 --weights inception.pth""")
    p.add_argument("data", type=Path, help="dataset folder (class/[group/]clip.ext) or list file")
    p.add_argument("out", type=Path, help="feature store folder (created, or resumed)")
    p.add_argument("--root", type=Path, help="root of the paths in a list file")
    b = p.add_argument_group("backbone")
    b.add_argument("--backbone", default="efficientnet_lite0",
                   help="efficientnet_lite0 (default, offline), googlenet, inception_v3, vgg16")
    b.add_argument("--weights", type=Path, help="local weights file (needed for torchvision ones)")
    b.add_argument("--layer", help="feature layer (vgg16: conv5_3 or pool4)")
    b.add_argument("--pooled", action="store_true", help="also store the pooled vector (B, D)")
    s = p.add_argument_group("sampling")
    s.add_argument("--fps", type=float, default=10.0, help="frames per second (0 = every frame)")
    s.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_extract)


def _extract(a):
    from glimpse.features.extract import extract

    s = extract(a.data, a.out, backbone=a.backbone, weights=a.weights, layer=a.layer, fps=a.fps,
                batch_size=a.batch_size, pooled=a.pooled, root=a.root, device=a.device,
                progress=not a.quiet)
    print(f"{s.extracted} extracted, {s.skipped} already done, {len(s.failures)} failed "
          f"({s.frames} frames) -> {a.out}")
    if s.failures:
        for rel, why in sorted(s.failures.items()):
            print(f"  failed: {rel}: {why}", file=sys.stderr)
        print(f"glimpse: error: {len(s.failures)} of {s.total} videos could not be extracted "
              f"(listed in {a.out / 'failures.json'})", file=sys.stderr)
        return 1
    return 0


# -- demo -------------------------------------------------------------------------------------
def _add_demo(sub):
    p = _parser("demo", sub, "the main job on the embedded default: synth -> extract (-> ...)", """
glimpse demo
glimpse demo --out /tmp/demo""")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    p.set_defaults(func=_demo)


def _demo(a):
    from glimpse.features.extract import extract
    from glimpse.synth import SynthConfig, generate

    videos, feats = a.out / "videos", a.out / "features"
    cfg = SynthConfig(classes=10, groups=3, clips_per_group=2, frames=40)
    generate(videos, cfg)
    s = extract(videos, feats)
    print(f"videos:   {videos} ({s.total} clips; contact sheet {videos / 'contact_sheet.png'})")
    print(f"features: {feats} ({s.extracted} extracted, {s.skipped} reused)")
    return 1 if s.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glimpse", description="Attention-based recurrent action recognition in video.",
        epilog="run 'glimpse COMMAND --help' for a command's options and examples")
    parser.add_argument("--version", action="version", version=f"glimpse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_synth(sub)
    _add_extract(sub)
    _add_demo(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GlimpseError as e:
        print(f"glimpse: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glimpse: interrupted", file=sys.stderr)
        return 130
