"""What the experiment scripts read from their command lines the same way."""

from __future__ import annotations

import json

from glimpse import GlimpseError


def value(text: str):
    """An option's value from the command line: JSON where it parses (1, 0.1, true), else the
    string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def setting(text: str) -> tuple[str, object]:
    """--set KEY=VALUE -> (key, value as JSON where it parses, else the text)."""
    if "=" not in text:
        raise GlimpseError(f"--set {text}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    return key, value(raw)
