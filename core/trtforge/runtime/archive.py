"""The saved-program archive: the format's names, and reading and checking a file without loading it.

A saved program (runtime ABI version :data:`ABI_VERSION`) is a ``torch.export.save``
archive of the compiled program, in which every engine is one
``trtforge::execute_engine(inputs, engine, metadata)`` node; ``engine`` is a buffer (1-D
uint8 tensor) holding the serialized engine and ``metadata`` the engine's
:class:`EngineMetadata` record as JSON (``abi_version`` first, with the engine's sha256).
An extra file ``trtforge_manifest.json``, whose first field is ``abi_version``, lists
every engine record, so that ``trtforge inspect`` and ``load`` can check a file without
deserializing it.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

from ..errors import CorruptedProgramError, SavedProgramError
from .metadata import ABI_VERSION, check_abi_version

__all__ = ["FORMAT_NAME", "MANIFEST_NAME", "inspect_saved", "read_manifest"]

MANIFEST_NAME = "trtforge_manifest.json"
FORMAT_NAME = "trtforge.exported_program"


# --- reading and checking a file ----------------------------------------------------------------

def _open_zip(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such file: {p!r}")
    size = os.path.getsize(p)
    if not _ends_with_end_record(p, size):
        # zipfile would go on searching backwards and may find the end record of an archive
        # nested inside (torch.export stores torch.save archives uncompressed): refuse first
        raise CorruptedProgramError(
            f"{p!r} ({size} bytes) is not a readable .pt2 archive: it is truncated or corrupted "
            "(no zip end-of-central-directory record at its end)"
        )
    try:
        return zipfile.ZipFile(p)
    except zipfile.BadZipFile as exc:
        size = os.path.getsize(p)
        raise CorruptedProgramError(
            f"{p!r} ({size} bytes) is not a readable .pt2 archive: it is truncated or corrupted ({exc})"
        ) from None
    except OSError as exc:
        raise CorruptedProgramError(f"{p!r} cannot be read as a .pt2 archive: {exc}") from None


def _ends_with_end_record(path: str, size: int) -> bool:
    """True if the file ends with a zip end-of-central-directory record (plus its comment)."""
    tail_len = min(size, 22 + 0xFFFF)
    with open(path, "rb") as f:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
    i = tail.rfind(b"PK\x05\x06")
    while i >= 0:
        if i + 22 <= len(tail):
            comment_len = int.from_bytes(tail[i + 20:i + 22], "little")
            if i + 22 + comment_len == len(tail):
                return True
        i = tail.rfind(b"PK\x05\x06", 0, i)
    return False


def _manifest_member(zf: zipfile.ZipFile) -> str | None:
    for name in zf.namelist():
        parts = name.split("/")
        if len(parts) >= 2 and parts[-1] == MANIFEST_NAME and parts[-2] == "extra":
            return name
    return None


def read_manifest(path: str | os.PathLike[str], *, verify: bool = True,
                  engines_verified: bool = False) -> dict[str, Any]:
    """The trtforge manifest of a saved program, after checking (in this order) that the file is a
    readable archive, that it is a trtforge program, its ABI version, and (``verify``) the CRC of every
    archive member. Raises :class:`SavedProgramError` subclasses saying which check failed.

    ``engines_verified``: the caller checks the sha256 of every engine against its record before
    the engine is used (``trtforge.load`` does, on the bytes it loads): the CRC pass then leaves out
    the members that hold one engine's bytes and nothing else, which that sha256 covers, so the
    engines are read and hashed once, not twice (:func:`check_engine_crcs` gives the CRC
    message for such a member when its sha256 fails)."""
    p = os.fspath(path)
    with _open_zip(p) as zf:
        member = _manifest_member(zf)
        if member is None:
            raise SavedProgramError(
                f"{p!r} is a .pt2 archive but not a trtforge program (no {MANIFEST_NAME}); load it with "
                "torch.export.load"
            )
        try:
            raw = zf.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CorruptedProgramError(f"{p!r}: the trtforge manifest is corrupted ({exc})") from None
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptedProgramError(f"{p!r}: the trtforge manifest is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict):
            raise CorruptedProgramError(f"{p!r}: the trtforge manifest is not a JSON object")
        check_abi_version(manifest, f"{p!r}")
        if verify:
            try:
                bad = _first_bad_member(zf, _skippable(zf, manifest) if engines_verified else set())
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as exc:
                raise CorruptedProgramError(f"{p!r} is truncated or corrupted: {exc}") from None
            if bad is not None:
                raise CorruptedProgramError(
                    f"{p!r} is corrupted: archive member {bad!r} fails its CRC check"
                )
        for rec in manifest.get("engines", []):
            check_abi_version(rec.get("metadata", {}), f"{p!r}, engine record {rec.get('node', '?')!r}")
    return manifest


def _first_bad_member(zf: zipfile.ZipFile, skip: set[str]) -> str | None:
    """``ZipFile.testzip`` (the first member whose CRC fails, else None), less the members in ``skip``."""
    for info in zf.infolist():
        if info.filename in skip:
            continue
        try:
            with zf.open(info) as f:
                while f.read(1 << 20):
                    pass
        except zipfile.BadZipFile:
            return info.filename
    return None


def _engine_only_members(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> set[str]:
    """The archive members holding exactly one engine's bytes, stored raw (not pickled), and nothing else."""
    tables = _tensor_tables(zf)
    out = set()
    for rec in manifest.get("engines", []):
        where = tables.get(rec.get("engine_tensor"))
        if where is None:
            continue
        member, offset, size, pickled = where
        info = zf.NameToInfo.get(member)
        if info is not None and not pickled and offset == 0 and info.file_size == size:
            out.add(member)
    return out


def _skippable(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> set[str]:
    """The engine-only members, or none if the tables that locate them cannot be read (the full
    CRC pass then says which member is damaged)."""
    try:
        return _engine_only_members(zf, manifest)
    except (SavedProgramError, zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError, AttributeError):
        return set()


def check_engine_crcs(path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """The CRC check :func:`read_manifest` leaves out with ``engines_verified=True``: raises the
    same error the full pass gives for a damaged engine member (called when an engine's sha256
    fails, to say whether the file was damaged or rewritten)."""
    p = os.fspath(path)
    with _open_zip(p) as zf:
        engines = _engine_only_members(zf, manifest)
        try:
            bad = _first_bad_member(zf, {i.filename for i in zf.infolist()} - engines)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as exc:
            raise CorruptedProgramError(f"{p!r} is truncated or corrupted: {exc}") from None
    if bad is not None:
        raise CorruptedProgramError(f"{p!r} is corrupted: archive member {bad!r} fails its CRC check")


def check_engine_members(path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """Every engine the manifest lists is stored in the archive, and its bytes have the sha256 its
    record gives. The CRCs that ``read_manifest`` checks catch damage, not a rewritten member with
    a fixed-up CRC, nor a member removed along with its central-directory entry; this does. Reads
    the archive's tensor tables directly: needs neither torch.export nor TensorRT."""
    import hashlib

    p = os.fspath(path)
    with _open_zip(p) as zf:
        tables = _tensor_tables(zf)
        for rec in manifest.get("engines", []):
            md = rec.get("metadata", {})
            name, want = rec.get("engine_tensor"), md.get("sha256")
            where = tables.get(name)
            if where is None or where[0] not in zf.NameToInfo:
                raise CorruptedProgramError(
                    f"{p!r} is corrupted: engine {md.get('name')!r} (tensor {name!r}) is missing from the archive; "
                    "copy the file again, or recompile and save"
                )
            member, offset, size, pickled = where
            data = zf.read(member)
            if pickled:  # torch.export pickles a tensor it cannot store raw
                import io

                import torch

                data = torch.load(io.BytesIO(data), weights_only=True).contiguous().view(torch.uint8).numpy().tobytes()
                offset = 0
            digest = hashlib.sha256(data[offset:offset + size]).hexdigest()
            if not want or digest != want:
                raise CorruptedProgramError(
                    f"{p!r} is corrupted: engine {md.get('name')!r} is corrupted: its bytes have sha256 "
                    f"{digest[:16]}..., its metadata records {str(want)[:16]}... (the file was changed after "
                    "saving); copy the file again, or recompile and save"
                )


def _tensor_tables(zf: zipfile.ZipFile) -> dict[str, tuple[str, int, int, bool]]:
    """Tensor name -> (archive member, byte offset, byte size, pickled) from torch.export's weight and
    constant tables (uint8 engine buffers: one byte per element)."""
    out: dict[str, tuple[str, int, int, bool]] = {}
    for name in zf.namelist():
        if not name.endswith(("/model_weights_config.json", "/model_constants_config.json")):
            continue
        try:
            config = json.loads(zf.read(name)).get("config", {})
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            raise CorruptedProgramError(f"{zf.filename!r} is corrupted: {name} is unreadable ({exc})") from None
        folder = name.rsplit("/", 1)[0]
        for tensor, entry in config.items():
            meta = entry.get("tensor_meta", {})
            size = 1
            for d in meta.get("sizes", []):
                size *= int(d.get("as_int", 0))
            offset = int(meta.get("storage_offset", {}).get("as_int", 0))
            out[tensor] = (f"{folder}/{entry.get('path_name')}", offset, size, bool(entry.get("use_pickle")))
    return out


# --- inspect ------------------------------------------------------------------------------------

def inspect_saved(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything ``trtforge inspect`` prints, as a dict; needs no GPU and no TensorRT."""
    p = os.fspath(path)
    manifest = read_manifest(p, verify=True)
    check_engine_members(p, manifest)
    engines = []
    for rec in manifest.get("engines", []):
        md = rec.get("metadata", {})
        engines.append({
            "node": rec.get("node"),
            "engine_tensor": rec.get("engine_tensor"),
            "name": md.get("name"),
            "backend": md.get("backend"),
            "backend_version": md.get("backend_version"),
            "engine_bytes": md.get("engine_bytes"),
            "sha256": md.get("sha256"),
            "inputs": md.get("inputs", []),
            "outputs": md.get("outputs", []),
            "flags": {
                "requires_output_allocator": md.get("requires_output_allocator", False),
                "weight_streaming": md.get("weight_streaming", False),
                "hardware_compatibility": md.get("hardware_compatibility", "none"),
                "device": md.get("device", 0),
                "compute_capability": md.get("compute_capability", ""),
            },
            "features": {
                "builder_flags": md.get("builder_flags", []),
                "refittable": md.get("refittable", False),
                "weights_stripped": md.get("weights_stripped", False),
                "version_compatible": md.get("version_compatible", False),
                "max_aux_streams": md.get("max_aux_streams"),
                "runtime_cache_path": md.get("runtime_cache_path", ""),
                "device_name": md.get("device_name", ""),
                "optimization_profiles": max([len(t.get("profiles") or []) for t in md.get("inputs", [])] or [1]),
                "refittable_weights": len(md.get("refit_map", {}).get("weights", {})),
                "unrefittable": md.get("unrefittable", {}),
            },
            "source_nodes": md.get("source_nodes", []),
        })
    return {
        "file": p,
        "file_bytes": os.path.getsize(p),
        "abi_version": manifest.get("abi_version"),
        "runtime_abi_version": ABI_VERSION,
        "format": manifest.get("format"),
        "trtforge_version": manifest.get("trtforge_version"),
        "torch_version": manifest.get("torch_version"),
        "integrity": "ok (CRC of every archive member and sha256 of every engine checked)",
        "fallback_ops": manifest.get("fallback_ops"),
        "engines": engines,
    }
