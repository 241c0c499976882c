"""The README's demo figures and screenshot, from a finished demo (``glimpse demo``):

    python scripts/demo_figures.py demo-out

writes docs/demo.json (each model's test metrics and the attention model against the pooled
one), the README's block between '<!-- demo -->' and '<!-- /demo -->' rendered from it, and
docs/report.png (the demo's own report in headless Chromium). tests/test_docs.py holds the
README's block to docs/demo.json, so the README cannot show other figures than the demo's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHAT = {"rstan": "paper 001: each cell scored from its content, with the actor term",
        "soft": "paper 002: a location softmax from the LSTM's state",
        "avgpool": "paper 002's pooled LSTM: does not look"}


def figures(out: Path) -> dict:
    from glimpse.compare import compare_runs
    from glimpse.demo import CONTRAST, MODELS
    from glimpse.run import Run

    result = {"models": {}}
    for name, model, *_ in MODELS:
        m = Run(out / "runs" / name).current_metrics("test", video_rule="vote")
        if m is None:
            raise SystemExit(f"{out / 'runs' / name} has no current test metrics: run glimpse "
                             f"demo first")
        att = m.get("attention") if model not in ("avgpool", "maxpool", "none") else None
        result["models"][name] = {
            "top1": round(m["top1"], 3), "videos": m["num_videos"],
            **({"mass_on_actor": round(att["mass_in_mask"], 3),
                "uniform": round(att["uniform_mass_in_mask"], 3),
                "pointing": round(att["pointing"], 3)} if att else {})}
    a, b = CONTRAST
    c = compare_runs([out / "runs" / a], [out / "runs" / b])
    result["contrast"] = {"a": a, "b": b, "diff": round(100 * c.diff, 1),
                          "low": round(100 * c.low, 1), "high": round(100 * c.high, 1),
                          "videos": c.videos, "p_mcnemar": float(f"{c.p_mcnemar:.2g}")}
    return result


def render(fig: dict) -> str:
    """The README's demo block from demo.json's figures."""
    lines = ["| model | top-1 | attention mass on the actor (uniform) | pointing at the actor |",
             "|---|---|---|---|"]
    for name, m in fig["models"].items():
        att = (f"{m['mass_on_actor']:.3f} ({m['uniform']:.3f})", f"{m['pointing']:.3f}") \
            if "pointing" in m else ("–", "–")
        lines.append(f"| `{name}` ({WHAT.get(name, '')}) | {100 * m['top1']:.1f}% | {att[0]} | "
                     f"{att[1]} |")
    c = fig["contrast"]
    lines += ["", f"`{c['b']}` over `{c['a']}` on the same {c['videos']} test videos: "
                  f"**{c['diff']:+.1f} points [{c['low']:+.1f}, {c['high']:+.1f}]** (95% paired "
                  f"bootstrap; McNemar p = {c['p_mcnemar']:.2g})."]
    return "\n".join(lines)


def fill(readme: str, fig: dict) -> str:
    head, rest = readme.split("<!-- demo -->", 1)
    _, tail = rest.split("<!-- /demo -->", 1)
    return f"{head}<!-- demo -->\n{render(fig)}\n<!-- /demo -->{tail}"


def main() -> None:
    from glimpse.viz.browser import check_page, headless

    out = Path(sys.argv[1])
    fig = figures(out)
    (ROOT / "docs" / "demo.json").write_text(json.dumps(fig, indent=1) + "\n")
    readme = ROOT / "README.md"
    readme.write_text(fill(readme.read_text(), fig))
    with headless(width=1280, height=1600) as driver:
        page = check_page(driver, out / "report" / "index.html")
        broken = [src for src, w in page["images"] if not w]
        if broken or page["errors"]:
            raise SystemExit(f"the report shows {len(broken)} broken images, {page['errors']}")
        driver.save_screenshot(str(ROOT / "docs" / "report.png"))
    print("-> docs/demo.json, README.md's demo block, docs/report.png")


if __name__ == "__main__":
    main()
