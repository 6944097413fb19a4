"""The engine cache: a directory of compiled programs keyed on everything that shapes them.

A key covers the exported graph (before decompositions, so a hit skips
lowering, partitioning, conversion and the build), a fingerprint of the
weights, the input specs, every setting that changes the result, the backend
and its version, the installed packs and their versions, and the target
device. Each entry is a payload plus its checksums (CRC-32 per 32 MiB chunk) written
beside it: an entry whose payload does not match is deleted and rebuilt, never loaded. The
directory is capped in size; the least recently used entries go first.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import torch

from ._version import __version__
from .errors import CacheStoreError

#: settings that do not change the compiled program
#: size of a cache key (hex file names twice as long)
_KEY_BYTES = 20
_NOT_IN_KEY = {"validate", "validate_rtol", "debug", "dryrun", "engine_cache_dir", "engine_cache_size"}


def _tensor_digest(name: str, t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # reshape: 0-d buffers (BatchNorm)
    return h.digest()


def _weights_fingerprint(ep: torch.export.ExportedProgram, h: Any) -> None:
    """Hash every weight into ``h``. sha256 (hardware-accelerated; blake2b is 2.5x slower here),
    one digest per tensor, hashed on a few threads: hashlib releases the GIL on large buffers."""
    tensors = list(ep.state_dict.items()) + list(getattr(ep, "constants", {}).items())
    tensors = sorted(((k, t) for k, t in tensors if isinstance(t, torch.Tensor)), key=lambda kv: kv[0])
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for digest in pool.map(lambda kv: _tensor_digest(*kv), tensors):
            h.update(digest)


def _spec_key(spec: Any) -> Any:
    """An input spec as the key sees it: shapes, dtype and the names that tie dimensions together."""
    fields = ("min_shape", "opt_shape", "max_shape", "dtype", "dim_names", "profiles")
    if not all(hasattr(spec, f) for f in fields):
        return str(spec)
    return tuple(str(getattr(spec, f)) if f == "dtype" else getattr(spec, f) for f in fields)


def _canonical(value: Any) -> str:
    """A setting's value as text that is the same in every process: sets and mappings sorted (the
    ``repr`` of a frozenset of strings follows string hashing, which changes per process)."""
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_canonical(k)}: {_canonical(v)}" for k, v in value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    return repr(value)


def weights_digest(ep: torch.export.ExportedProgram) -> str:
    """A fingerprint of the program's weights alone (kept with entries of refittable programs)."""
    h = hashlib.blake2b(digest_size=_KEY_BYTES)
    _weights_fingerprint(ep, h)
    return h.hexdigest()


def cache_key(ep: torch.export.ExportedProgram, specs: Sequence[Any], settings: Any, target: str,
              backend: tuple[str, str], packs: Sequence[tuple[str, str | None]]) -> str:
    h = hashlib.blake2b(digest_size=_KEY_BYTES)
    h.update(ep.graph_module.code.encode())
    h.update(str(ep.graph_signature).encode())
    if not getattr(settings, "refittable", False):
        _weights_fingerprint(ep, h)  # refittable engines: new weights are refitted into a hit instead
    h.update(repr([_spec_key(s) for s in specs]).encode())
    cfg = {f.name: _canonical(getattr(settings, f.name)) for f in dataclasses.fields(settings) if f.name not in _NOT_IN_KEY}
    h.update(json.dumps(cfg, sort_keys=True).encode())
    device = "cpu-aot"
    if torch.cuda.is_available():
        device = "sm_%d%d" % torch.cuda.get_device_capability()
    h.update(json.dumps([target, backend, sorted(packs), device, __version__, torch.__version__]).encode())
    return h.hexdigest()


class EngineCache:
    """A size-capped directory of compiled programs.

    ``create=False`` leaves a missing directory missing (``trtforge cache info`` must not make one);
    :attr:`exists` says whether there is one.
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int = 2 << 30, *, create: bool = True) -> None:
        self.dir = Path(directory)
        self.max_bytes = int(max_bytes)
        if create:
            self.dir.mkdir(parents=True, exist_ok=True)
        #: what the last get() found: "hit", "miss" or "corrupt"
        self.last = ""

    @property
    def exists(self) -> bool:
        return self.dir.is_dir()

    def writable(self) -> str | None:
        """None if entries can be stored here, else the reason they cannot."""
        if not self.exists:
            return f"{str(self.dir)!r} does not exist and cannot be created"
        if not os.access(self.dir, os.W_OK | os.X_OK):
            return f"{str(self.dir)!r} is not writable"
        return None

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.dir / f"{key}.bin", self.dir / f"{key}.check"

    def get(self, key: str) -> Any | None:
        payload, digest = self._paths(key)
        if not payload.exists():
            self.last = "miss"
            return None
        want = digest.read_text().strip() if digest.exists() else ""
        try:
            # one open file for the check and the load: an entry replaced meanwhile is not mixed in.
            # Loaded into memory, not mapped: a program must not change if its file does.
            with open(payload, "rb") as f:
                ok = _digest(f) == want
                f.seek(0)
                obj = torch.load(f, weights_only=False) if ok else None
        except Exception:
            obj = None
        if obj is None:
            self.last = "corrupt"
            self._remove_quietly(key)
            return None
        try:
            os.utime(payload)  # least-recently-used order
        except OSError:
            pass  # a read-only cache still serves hits
        self.last = "hit"
        return obj

    def put(self, key: str, obj: Any) -> None:
        """Store ``obj``; raises :class:`CacheStoreError` (saying why and what to do) if it was not
        stored. Atomic: readers never see half an entry, and a failed write leaves none."""
        from ._io import OutputWriteError, atomic_write, atomic_write_text

        payload, digest = self._paths(key)
        try:
            with atomic_write(payload, "engine cache entry") as f:
                torch.save(obj, f)
                f.flush()
                size = f.tell()
                if size > self.max_bytes:
                    raise CacheStoreError(
                        f"the compiled program ({size / 1e6:.1f} MB) is larger than engine_cache_size "
                        f"({self.max_bytes / 1e6:.1f} MB), so it was not stored in {str(self.dir)!r}; raise "
                        "engine_cache_size"
                    )
                sha = _digest(f) if f.error is None else ""
            atomic_write_text(digest, sha + "\n", "engine cache checksum")
        except OutputWriteError as exc:
            self._remove_quietly(key)
            raise CacheStoreError(f"the engine cache entry was not stored: {exc}") from None
        self.evict()

    def remove(self, key: str) -> None:
        """Delete an entry and the leftovers of interrupted writes of it."""
        for p in self.dir.iterdir():
            if _owner_key(p.name) == key:
                p.unlink(missing_ok=True)

    def _remove_quietly(self, key: str) -> None:
        try:
            self.remove(key)
        except OSError:
            pass

    def entries(self) -> list[tuple[str, int, float]]:
        """``(key, bytes, last_used)`` for every entry, most recently used first."""
        out = []
        for p in self.dir.glob("*.bin"):
            if _ENTRY.fullmatch(p.name):
                st = p.stat()
                out.append((p.stem, st.st_size, st.st_mtime))
        return sorted(out, key=lambda e: -e[2])

    def orphans(self) -> list[tuple[str, int]]:
        """``(file name, bytes)`` of what interrupted writes left: temporary files, and checksums
        without their entry. ``clear`` removes them."""
        if not self.exists:
            return []
        keys = {e[0] for e in self.entries()}
        out = []
        for p in sorted(self.dir.iterdir()):
            owner = _owner_key(p.name)
            if owner is not None and not (p.name == f"{owner}.bin" or (p.name == f"{owner}.check" and owner in keys)):
                out.append((p.name, p.stat().st_size))
        return out

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
        """Delete every entry and what interrupted writes left (checksums without their entry,
        temporary files), and nothing else: a file is the cache's only if its whole name is one
        the cache writes. Returns the number of entries deleted (:meth:`orphans` before says how
        many leftovers there were)."""
        if not self.exists:
            return 0
        n = len(self.entries())
        for p in self.dir.iterdir():
            if _owner_key(p.name) is not None and p.is_file():
                p.unlink(missing_ok=True)
        return n


_HEX = f"[0-9a-f]{{{2 * _KEY_BYTES}}}"
#: the file names the cache writes: entries, checksums, and temporary files of both (named by
#: trtforge._io.atomic_write; ``KEY.PID.tmp`` is what trtforge 0.x before atomic_write left)
_ENTRY = re.compile(f"{_HEX}\\.bin")
_OWNED = re.compile(f"(?P<key>{_HEX})\\.(?:bin|check)|\\.(?P<tkey>{_HEX})\\.(?:bin|check)\\.\\d+\\.[0-9a-f]{{8}}\\.tmp"
                    f"|(?P<okey>{_HEX})\\.\\d+\\.tmp")


def _owner_key(name: str) -> str | None:
    """The key of the entry a file name belongs to, or None if the cache did not write it."""
    m = _OWNED.fullmatch(name)
    return None if m is None else (m.group("key") or m.group("tkey") or m.group("okey"))


#: entries are checked in chunks of this size, on several threads
_CHUNK = 32 << 20


def _digest(f: Any) -> str:
    """CRC-32 of each 32 MiB chunk of the open file ``f``, on threads: one line.

    A check against damage (a flipped bit, a truncated copy), not against tampering: whoever can
    write the cache directory can run code through it anyway (entries are pickles). CRC-32 runs at
    3 GB/s here, sha256 at 1 GB/s; for vit_b_16's entry that is 0.06 s instead of 0.17 s.
    """
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        return "crc32"
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
        chunks = [view[i:i + _CHUNK] for i in range(0, size, _CHUNK)]
        try:
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                return "crc32 " + " ".join(pool.map(lambda c: f"{zlib.crc32(c):08x}", chunks))
        finally:
            for c in chunks:
                c.release()
