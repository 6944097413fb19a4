"""Fixtures of the docs tests: every page is run once, top to bottom, on first use."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import docs_mdblocks as mdblocks  # noqa: E402
import docs_pagerun as pagerun  # noqa: E402


def pytest_generate_tests(metafunc: Any) -> None:
    if "doc_block" in metafunc.fixturenames:
        blocks = [b for b in mdblocks.all_blocks() if b.lang != "text"]
        metafunc.parametrize("doc_block", blocks, ids=[b.id for b in blocks])


class PageRuns:
    """Runs each page at most once per session; ``result(block)`` runs its page if needed."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.shared: dict[str, Any] = {}
        self.runs: dict[str, pagerun.PageRun] = {}

    def page(self, name: str) -> pagerun.PageRun:
        if name not in self.runs:
            run = pagerun.PageRun(name, self.tmp / name.removesuffix(".md"), self.shared)
            run.run()
            self.runs[name] = run
        return self.runs[name]

    def result(self, block: mdblocks.Block) -> pagerun.Result:
        return self.page(block.page).results[block.line]


@pytest.fixture(scope="session")
def page_runs(tmp_path_factory: Any) -> Iterator[PageRuns]:
    runs = PageRuns(tmp_path_factory.mktemp("docs"))
    try:
        yield runs
    finally:
        pagerun.cleanup(runs.shared)


@pytest.fixture(scope="session")
def md() -> Any:
    return mdblocks
