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
