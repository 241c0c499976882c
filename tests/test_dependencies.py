"""Every third-party module that src/glimpse imports is a declared dependency (pyproject.toml),
or a dev-only reference imported inside a function (never at a module's top level), so that
`pip install .` without extras runs every command."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# dev extras that src/glimpse imports inside a function only, and why
DEV_ONLY = {"timm": "the reference backbone (build_efficientnet_lite0(timm=True): tests, benchmark)",
            "selenium": "the report's headless-browser screenshot (viz/browser.py)"}
# modules of an optional extra (pip install 'glimpse[NAME]'), imported inside a function whose
# ImportError names the extra in one line
GUARDED = {"onnxscript": "export"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports():
    """(module's top-level package, file, at the module's top level?) for every import."""
    for path in sorted((ROOT / "src" / "glimpse").rglob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                yield n.split(".")[0], path.relative_to(ROOT), id(node) in top


def test_every_imported_package_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in meta["dependencies"]}
    dev = {_name(r) for r in meta["optional-dependencies"]["dev"]}
    dists = packages_distributions()
    undeclared, top_level_dev = [], []
    for module, path, at_top in _imports():
        if module in sys.stdlib_module_names or module in ("glimpse", "__future__"):
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if names & declared:
            continue
        extra = {_name(r) for r in meta["optional-dependencies"].get(GUARDED.get(module), [])}
        if (module in DEV_ONLY and names & dev) or names & extra:
            if at_top:
                top_level_dev.append(f"{path}: {module}")
            continue
        undeclared.append(f"{path}: {module} ({', '.join(sorted(names))})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)
    assert not top_level_dev, "a dev-only or extra module imported at a module's top level: " + \
        "; ".join(top_level_dev)
