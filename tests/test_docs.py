"""The README is a front page whose every link resolves inside the repository, and the docs'
links resolve too."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pages():
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
            *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_link_resolves_inside_the_repository():
    broken = []
    for page in _pages():
        for target in re.findall(r"\]\(([^)\s#]*)(?:#[^)]*)?\)", page.read_text()):
            if not target:  # an anchor in the same page
                continue
            path = (page.parent / target).resolve()
            if target.startswith(("http:", "https:")) or not path.is_relative_to(ROOT) \
                    or not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_readme_is_a_front_page_leading_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    block = text.split("```")[1]
    assert [line.split()[:2] for line in block.strip().splitlines()] == [["make", "demo"],
                                                                         ["make", "test"]]


def test_the_readmes_demo_figures_are_the_demos():
    """The README's demo block is scripts/demo_figures.py's rendering of docs/demo.json (the
    figures a finished demo gave), and they show what the demo is for: the attention model on
    the actor (pointing >= 0.5, mass >= 3x uniform) and >= 10 points over the pooled LSTM with
    an interval above 0 (issue 47)."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("demo_figures",
                                                  ROOT / "scripts" / "demo_figures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fig = json.loads((ROOT / "docs" / "demo.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert script.fill(readme, fig) == readme
    c, models = fig["contrast"], fig["models"]
    looks = models[c["b"]]
    assert looks["pointing"] >= 0.5 and looks["mass_on_actor"] >= 3 * looks["uniform"]
    assert c["diff"] >= 10 and c["low"] > 0 and c["videos"] >= 120
    assert any("pointing" in m for name, m in models.items() if name != c["b"])  # location
