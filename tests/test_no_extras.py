"""glimpse without its extras: a tiny synth, extract, train, evaluate, predict and export (.pt2)
in a fresh process where every module of the dev and export extras fails to import, as after
``pip install .`` (the test of issue 48: safetensors once came only through timm)."""

import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = """
import sys
for name in sys.argv[1].split(","):  # as if not installed: import fails, find_spec says None
    sys.modules[name] = None
sys.argv = ["glimpse"] + sys.argv[2:]
from glimpse.cli import main
sys.exit(main())
"""


def _extra_modules() -> set[str]:
    """The importable top-level modules of every distribution in the dev and export extras
    that is not also a dependency of glimpse itself."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda r: r.split(">")[0].split("=")[0].split("[")[0].strip().lower().replace("_", "-")  # noqa: E731
    needed = {name(r) for r in meta["dependencies"]}
    extras = {name(r) for group in meta["optional-dependencies"].values() for r in group}
    extras -= needed
    modules = {m for m, dists in packages_distributions().items()
               if {d.lower().replace("_", "-") for d in dists} & extras}
    return modules | {"pytest", "timm", "selenium", "onnx", "onnxscript", "onnxruntime",
                      "sklearn", "skvideo"}


def _glimpse(blocked: set[str], *args: str) -> str:
    r = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(sorted(blocked)), *args],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (args[0], r.stderr[-1500:])
    return r.stdout


def test_the_main_commands_run_without_any_extra(tmp_path):
    blocked = _extra_modules()
    assert {"timm", "onnxruntime", "sklearn"} <= blocked
    videos, feats, run = tmp_path / "videos", tmp_path / "feats", tmp_path / "run"
    _glimpse(blocked, "synth", str(videos), "--classes", "2", "--groups", "3",
             "--clips-per-group", "1", "--frames", "8", "--size", "64", "--quiet")
    _glimpse(blocked, "extract", str(videos), str(feats), "--fps", "0", "--quiet")
    _glimpse(blocked, "train", str(feats), "--out", str(run), "--model", "soft", "--hidden", "8",
             "--epochs", "1", "--batch-size", "4", "--clip-len", "6", "--stride", "3", "--quiet")
    assert "top-1" in _glimpse(blocked, "evaluate", str(run), "--quiet")
    clip = next(videos.rglob("*.avi"))
    assert "soft" in _glimpse(blocked, "predict", str(run), str(clip), "--json")
    _glimpse(blocked, "export", str(run), str(tmp_path / "soft.pt2"))
    assert (tmp_path / "soft.pt2").stat().st_size > 1e6
