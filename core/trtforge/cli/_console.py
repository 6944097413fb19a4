"""The CLI's rich console: under a pipe (a CI log), wide enough that tables are not cut short."""
from __future__ import annotations

import os
import sys
from typing import Any

#: columns used when the output is not a terminal and COLUMNS does not say otherwise
PIPE_WIDTH = 200


def make_console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH)
