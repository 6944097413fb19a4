"""Shared helpers for the benchmarks: timing and table printing."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def timer(out: dict, key: str) -> Iterator[None]:
    t = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - t


def print_table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r])
    Console(width=160).print(t)
