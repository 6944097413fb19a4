"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import os
import tempfile
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` (bytes-like) to ``path`` through a temporary file in the same directory,
    flushed to disk, then renamed over ``path``: readers see the old or the new file, whole."""
    target = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
