"""The engine cache: a directory of compiled programs keyed on everything that shapes them.

A key covers the exported graph (before decompositions, so a hit skips
lowering, partitioning, conversion and the build), a fingerprint of the
weights, the input specs, every setting that changes the result, the backend
and its version, the installed packs and their versions, and the target
device. Each entry is a payload plus a sha256 written beside it: an entry
whose payload does not match is deleted and rebuilt, never loaded. The
directory is capped in size; the least recently used entries go first.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from ._version import __version__

#: settings that do not change the compiled program
_NOT_IN_KEY = {"validate", "validate_rtol", "debug", "dryrun", "engine_cache_dir", "engine_cache_size"}


def _weights_fingerprint(ep: torch.export.ExportedProgram, h: Any) -> None:
    tensors = list(ep.state_dict.items()) + list(getattr(ep, "constants", {}).items())
    for name, t in sorted(tensors, key=lambda kv: kv[0]):
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")  # reshape: 0-d buffers (BatchNorm)


def cache_key(ep: torch.export.ExportedProgram, specs: Sequence[Any], settings: Any, target: str,
              backend: tuple[str, str], packs: Sequence[tuple[str, str | None]]) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(ep.graph_module.code.encode())
    h.update(str(ep.graph_signature).encode())
    _weights_fingerprint(ep, h)
    h.update(repr([str(s) for s in specs]).encode())
    cfg = {f.name: repr(getattr(settings, f.name)) for f in dataclasses.fields(settings) if f.name not in _NOT_IN_KEY}
    h.update(json.dumps(cfg, sort_keys=True).encode())
    device = "cpu-aot"
    if torch.cuda.is_available():
        device = "sm_%d%d" % torch.cuda.get_device_capability()
    h.update(json.dumps([target, backend, sorted(packs), device, __version__, torch.__version__]).encode())
    return h.hexdigest()


class EngineCache:
    """A size-capped directory of compiled programs."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int = 2 << 30) -> None:
        self.dir = Path(directory)
        self.max_bytes = int(max_bytes)
        self.dir.mkdir(parents=True, exist_ok=True)
        #: what the last get() found: "hit", "miss" or "corrupt"
        self.last = ""

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.dir / f"{key}.bin", self.dir / f"{key}.sha256"

    def get(self, key: str) -> Any | None:
        payload, digest = self._paths(key)
        if not payload.exists():
            self.last = "miss"
            return None
        data = payload.read_bytes()
        want = digest.read_text().strip() if digest.exists() else ""
        if hashlib.sha256(data).hexdigest() != want:
            self.last = "corrupt"
            self.remove(key)
            return None
        try:
            obj = torch.load(io.BytesIO(data), weights_only=False)
        except Exception:
            self.last = "corrupt"
            self.remove(key)
            return None
        os.utime(payload)  # least-recently-used order
        self.last = "hit"
        return obj

    def put(self, key: str, obj: Any) -> None:
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
        payload, digest = self._paths(key)
        tmp = payload.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, payload)  # atomic: readers never see half an entry
        digest.write_text(hashlib.sha256(data).hexdigest() + "\n")
        self.evict()

    def remove(self, key: str) -> None:
        for p in self._paths(key):
            p.unlink(missing_ok=True)

    def entries(self) -> list[tuple[str, int, float]]:
        """``(key, bytes, last_used)`` for every entry, most recently used first."""
        out = []
        for p in self.dir.glob("*.bin"):
            st = p.stat()
            out.append((p.stem, st.st_size, st.st_mtime))
        return sorted(out, key=lambda e: -e[2])

    def size(self) -> int:
        return sum(e[1] for e in self.entries())

    def evict(self) -> list[str]:
        """Drop least recently used entries until the directory fits the cap."""
        removed, total = [], 0
        for key, size, _ in self.entries():
            total += size
            if total > self.max_bytes:
                self.remove(key)
                removed.append(key)
        return removed

    def clear(self) -> int:
        n = 0
        for key, _, _ in self.entries():
            self.remove(key)
            n += 1
        return n

