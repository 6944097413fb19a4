"""pytest plugin of the test kit (entry point ``pytest11: trtforge``).

Fixtures:
  ``trtforge_manager``: a fresh pack manager (installed packs, strict) for one test.
  ``trtforge_pack``: ``trtforge_pack(name, plugin, needs=())`` registers an in-process pack for one
  test, with the installed packs it needs next to it (``needs=["vision"]``); no other pack loads.
Options:
  ``--trtforge-conformance=PACK[,PACK]``: at the end of the session, fail if PACK is
  unknown (neither installed nor loaded in-process for ``check_converts``), if a
  converter of PACK was never exercised by ``check_converts``, or if one claims dynamic
  shapes but was never exercised with a dynamic profile. Packs loaded in-process
  (``pack_manager``, the ``trtforge_pack`` fixture) count as well as installed ones.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("trtforge")
    group.addoption(
        "--trtforge-conformance", default="", metavar="PACKS",
        help="comma-separated packs whose converters must all be exercised by check_converts",
    )


@pytest.fixture
def trtforge_manager() -> Iterator[Any]:
    from trtforge.plugins.manager import PackManager, set_manager

    manager = PackManager(strict=True).load_all()
    prev = set_manager(manager)
    try:
        yield manager
    finally:
        set_manager(prev)


@pytest.fixture
def trtforge_pack() -> Iterator[Callable[..., Any]]:
    from trtforge.plugins.manager import PackManager, set_manager
    from trtforge.testing.kit import add_packs

    manager = PackManager(discover=False, strict=True)
    prev = set_manager(manager)

    def add(name: str, plugin: Any, needs: Iterable[str] = ()) -> Any:
        """Load ``plugin`` as pack ``name``, with the installed packs named in ``needs``."""
        return add_packs(manager, [(name, plugin)], needs)

    try:
        yield add
    finally:
        set_manager(prev)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    packs = [p for p in (session.config.getoption("--trtforge-conformance") or "").split(",") if p]
    if not packs or exitstatus not in (0,):
        return
    from trtforge.testing.kit import converters_of, undynamic_converters, untested_converters

    problems = []
    for pack in packs:
        if not converters_of(pack):
            problems.append(f"{pack}: no pack of this name is installed or was compiled with by check_converts "
                            "(a misspelled name would check nothing)")
        for c in untested_converters(pack):
            problems.append(f"{pack}: converter never exercised by check_converts: {c}")
        for c in undynamic_converters(pack):
            problems.append(f"{pack}: claims supports_dynamic_shapes but never ran with a dynamic profile: {c}")
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("trtforge conformance failed:", red=True)
            for p in problems:
                reporter.write_line("  " + p, red=True)
        session.exitstatus = 1
