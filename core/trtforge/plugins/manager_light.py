"""Listing pack entry points without importing torch or any pack."""
from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 12):
    from importlib import metadata as importlib_metadata
else:  # the stdlib one lacks entry_points(group=...) selection on older Pythons
    import importlib_metadata

ENTRY_POINT_GROUP = "trtforge.packs"


def entry_points() -> list[Any]:
    return list(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))


def distribution_facts(distribution: str | None, plugin: Any) -> tuple[str | None, str | None]:
    """``(version, summary)`` of the distribution that ships a pack: the entry point's, else the one
    whose files hold the plugin's top-level package (a pack loaded in-process); Nones if none."""
    names = [distribution] if distribution else []
    top = (getattr(plugin, "__name__", None) or getattr(type(plugin), "__module__", "") or "").split(".")[0]
    if not names and top:
        names = importlib_metadata.packages_distributions().get(top, [])
    for name in names:
        try:
            meta = importlib_metadata.metadata(name)
        except importlib_metadata.PackageNotFoundError:
            continue
        return meta.get("Version"), meta.get("Summary")
    return None, None
