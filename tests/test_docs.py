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
