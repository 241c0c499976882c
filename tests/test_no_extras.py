"""glimpse without its extras: a tiny synth, extract, train, evaluate, predict and export (.pt2)
as after ``pip install .`` (the test of issue 48: safetensors once came only through timm).

``make test`` (and so CI) installs glimpse without extras into a fresh environment, .venv-plain,
and names it in GLIMPSE_PLAIN_VENV: the commands then run there, the installed package and
nothing else. Run by pytest alone, they run in this environment in a process where every module
of the dev and export extras fails to import, which catches an undeclared import too, but not a
file the package leaves out."""

import os
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
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


def _plain_venv() -> Path | None:
    """The environment ``make test`` installed glimpse into without extras, if named."""
    name = os.environ.get("GLIMPSE_PLAIN_VENV")
    if not name:
        return None
    venv = (ROOT / name).resolve()
    assert (venv / "bin" / "glimpse").exists(), f"GLIMPSE_PLAIN_VENV={name}: no bin/glimpse there"
    return venv


def _glimpse(blocked: set[str], *args: str) -> str:
    venv = _plain_venv()
    command = ([str(venv / "bin" / "glimpse"), *args] if venv else
               [sys.executable, "-c", BLOCKER, ",".join(sorted(blocked)), *args])
    r = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT.parent)
    assert r.returncode == 0, (args[0], r.stderr[-1500:])
    return r.stdout


def test_the_plain_environment_has_glimpse_and_no_extra():
    """Where make test made .venv-plain: glimpse installed there (not this checkout's editable
    link), and no distribution of the extras."""
    venv = _plain_venv()
    if venv is None:
        pytest.skip("GLIMPSE_PLAIN_VENV not set (make test sets it); the next test blocks the "
                    "extras instead")
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import glimpse, importlib.util as u, sys; print(glimpse.__file__); "
                        "print(*[m for m in sys.argv[1:] if u.find_spec(m)])",
                        "timm", "pytest", "onnx", "onnxruntime", "sklearn", "selenium"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT.parent)
    assert r.returncode == 0, r.stderr[-1500:]
    where, extras = r.stdout.splitlines()
    assert str(venv) in where and extras == "", r.stdout


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
