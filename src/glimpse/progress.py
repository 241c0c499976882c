"""Progress bars for long work: live on a terminal, a line every 30 s in a log file."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(*, total: int, desc: str, unit: str, enabled: bool = True, initial: int = 0):
    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=tty, mininterval=0.5 if tty else 30.0,
                ascii=not tty)
