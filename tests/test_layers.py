"""The package's layers (CONTRIBUTING.md, "Layers"): a module imports only from layers below
its own, so no import runs back up (datasets/ never imports features/, models/ never the
trainer)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "glimpse"
LAYERS = [
    {"__init__", "settings", "config", "recipes", "io", "progress", "allocator", "stats", "losses", "metrics", "video", "amp", "distributed",
     "heat", "board"},
    {"datasets"},
    {"features", "synth"},
    {"models"},
    {"run"},
    {"evaluate"},
    {"train", "probe", "compare", "predict", "export"},
    {"api"},
    {"viz"},
    {"timeline"},
    {"demo", "cli", "__main__"},
]


def _layer(unit: str) -> int:
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def test_no_import_runs_back_up():
    upward = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("").parts
        unit = rel[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[0] == "glimpse":
                parts = node.module.split(".")
                other = parts[1] if len(parts) > 1 else "__init__"
                if _layer(other) > _layer(unit):
                    upward.append(f"{'/'.join(rel)} imports {node.module}")
    assert not upward, upward
