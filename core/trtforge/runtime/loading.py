"""``trtforge.load``: a saved program back as a GraphModule whose engines are TRTEngineModules."""
from __future__ import annotations

import operator
import os
import re
import warnings
from typing import Any

import torch

from ..errors import CorruptedProgramError, SavedProgramError, TensorRTNotInstalledError
from .archive import check_engine_crcs, read_manifest
from .metadata import EngineMetadata

__all__ = ["load"]


def _version(text: str) -> tuple[int, ...]:
    """``"10.12.0.36"`` -> ``(10, 12, 0, 36)`` (comparable); ``()`` if there are no numbers."""
    return tuple(int(x) for x in re.findall(r"\d+", text or ""))


def _check_backends(manifest: dict[str, Any]) -> None:
    from .checks import require_backend

    for rec in manifest.get("engines", []):
        md = EngineMetadata.from_dict(rec["metadata"])
        trt = require_backend(md)
        installed = str(getattr(trt, "__version__", ""))
        built, have = _version(md.backend_version), _version(installed)
        if md.version_compatible and built and have and have[0] == built[0] and have >= built:
            continue  # built version-compatible: later versions of the same major run it
        if md.backend_version and installed and md.backend_version != installed:
            warnings.warn(
                f"engine {md.name!r} was built with {md.backend} {md.backend_version}; {installed} is "
                "installed. TensorRT engines load only on the version that built them unless built "
                "version-compatible: if running it fails, recompile",
                stacklevel=3,
            )


def load(path: str | os.PathLike[str], *, verify: bool = True, weights: Any = None) -> torch.fx.GraphModule:
    """Load a program saved with :func:`save`; returns a GraphModule whose engines are TRTEngineModules.

    Checks, in order: the file is a complete archive; it is a trtforge program; its ABI
    version; every member's CRC (``verify``; a member that holds one engine and nothing else
    is covered by that engine's sha256 instead, a stronger check made on the very bytes
    loaded, so engines are read and hashed once); the TensorRT backend each engine was built
    for is installed; each engine's sha256 (all engines hashed in parallel). A damaged engine
    member gets the CRC message, a rewritten one the sha256 message. Each failure raises a :class:`SavedProgramError`
    (or :class:`TensorRTNotInstalledError`) saying exactly which. Needs no GPU: engines are
    deserialized on their first call.

    ``weights`` (a module, an ExportedProgram or a state dict with the model's parameter
    names) refits the engines, as :func:`trtforge.refit_module_weights` does: needed for a
    program saved with ``strip_weights=True``. The new weights are mapped and checked here;
    TensorRT refits each engine when it is first deserialized on its GPU.
    """
    p = os.fspath(path)
    manifest = read_manifest(p, verify=verify, engines_verified=True)  # each engine: its sha256 below
    _check_backends(manifest)
    from . import ops  # noqa: F401  (the operator must exist before torch.export.load)

    try:
        ep = torch.export.load(p)
    except (SavedProgramError, TensorRTNotInstalledError):
        raise
    except Exception as exc:
        raise CorruptedProgramError(f"{p!r}: torch.export.load failed: {type(exc).__name__}: {exc}") from exc
    gm = ep.module()
    try:
        _attach_engine_modules(gm)
    except CorruptedProgramError:
        if verify:  # damaged on disk (its CRC fails) rather than rewritten: say so, as the full CRC pass did
            check_engine_crcs(p, manifest)
        raise
    gm.trtforge_manifest = manifest  # type: ignore[assignment]
    if weights is not None:
        from ..refit import refit_module_weights

        refit_module_weights(gm, weights)
    return gm


def _attach_engine_modules(gm: torch.fx.GraphModule) -> None:
    """Replace each ``execute_engine`` node by a call of a TRTEngineModule holding its engine buffer."""
    from .module import TRTEngineModule
    from .ops import _get_attr, _parse_metadata, is_engine_node

    from .metadata import engine_digests

    graph = gm.graph
    # every engine's sha256 at once, in parallel: each TRTEngineModule below then checks its own
    engine_digests([_get_attr(gm, n.args[1].target) for n in graph.nodes if is_engine_node(n)
                    and isinstance(n.args[1], torch.fx.Node) and n.args[1].op == "get_attr"])
    count = 0
    for node in list(graph.nodes):
        if not is_engine_node(node):
            continue
        inputs, engine_node, metadata = node.args[:3]
        if not isinstance(engine_node, torch.fx.Node) or engine_node.op != "get_attr":
            continue
        md = EngineMetadata.from_dict(_parse_metadata(metadata).to_dict())
        owner_path, _, attr = engine_node.target.rpartition(".")
        tensor = _get_attr(gm, engine_node.target)
        module = TRTEngineModule(tensor, md)  # verifies the sha256
        owner = gm.get_submodule(owner_path) if owner_path else gm
        if owner_path and attr == "engine" and not list(owner.children()) and set(owner._buffers) == {"engine"} \
                and not owner._parameters:
            # the original engine module's place: keep its name
            parent_path, _, leaf = owner_path.rpartition(".")
            parent = gm.get_submodule(parent_path) if parent_path else gm
            setattr(parent, leaf, module)
            name = owner_path
        else:
            name = f"_trtforge_engine_{count}"
            gm.add_submodule(name, module)
        count += 1
        with graph.inserting_before(node):
            call = graph.call_module(name, tuple(inputs))
        single = len(md.outputs) == 1
        for user in list(node.users):
            if single and user.op == "call_function" and user.target is operator.getitem and user.args[1] == 0:
                user.replace_all_uses_with(call)
                graph.erase_node(user)
            else:
                user.replace_input_with(node, call)
        if single and node.users:
            raise SavedProgramError("unexpected use of a single-output engine's result list")  # pragma: no cover
        graph.erase_node(node)
        if not engine_node.users:
            graph.erase_node(engine_node)
    if count:
        graph.lint()
        gm.recompile()
