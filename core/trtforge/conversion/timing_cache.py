"""The builder's timing cache on disk (full TensorRT): loaded before a build, saved after it.

One file can be shared by every compile on a machine: each build adds its tactic timings,
so later builds of similar layers skip re-timing them. The file is replaced atomically, so
a reader (another compile) never sees half a cache; two compiles saving at once each write
a whole cache, and the later one wins. TensorRT-RTX has no timing cache (the capability
table refuses ``timing_cache_path`` there), but its API accepts the calls, which the tests use.
"""
from __future__ import annotations

import os
from typing import Any

from .._io import atomic_write


def load(config: Any, path: str) -> Any:
    """Attach the cache at ``path`` (an empty one if the file does not exist yet) to ``config``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    cache = config.create_timing_cache(data)
    if cache is None:
        raise ValueError(
            f"timing_cache_path={path!r} is not a timing cache of this TensorRT version; delete the "
            "file (the next build writes a new one) or point timing_cache_path elsewhere"
        )
    # ignore_mismatch=False: a cache from another GPU or version is an error, not silently used
    config.set_timing_cache(cache, False)
    return cache


def save(config: Any, path: str) -> None:
    """Write the (updated) cache of ``config`` to ``path``, atomically."""
    cache = config.get_timing_cache()
    if cache is None:
        return
    data = cache.serialize()
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with atomic_write(path, "timing cache") as f:
        f.write(memoryview(data))
