"""``trtforge.save`` / ``trtforge.load``: compiled programs as torch.export ``.pt2`` archives.

Format (runtime ABI version :data:`ABI_VERSION`):

* a ``torch.export.save`` archive of the compiled program, in which every engine
  is one ``trtforge::execute_engine(inputs, engine, metadata)`` node; ``engine``
  is a buffer (1-D uint8 tensor) holding the serialized engine and ``metadata``
  the engine's :class:`EngineMetadata` record as JSON (``abi_version`` first,
  with the engine's sha256);
* an extra file ``trtforge_manifest.json`` whose first field is
  ``abi_version``, listing every engine record, so that ``trtforge inspect`` and
  :func:`load` can check a file without deserializing it.
"""
from __future__ import annotations

import json
import operator
import os
import warnings
import zipfile
from typing import Any, Sequence

import torch

from ..errors import (
    CorruptedProgramError,
    SavedProgramError,
    TensorRTNotInstalledError,
)
from .metadata import ABI_VERSION, EngineMetadata, check_abi_version

__all__ = ["MANIFEST_NAME", "inspect_saved", "load", "read_manifest", "save"]

MANIFEST_NAME = "trtforge_manifest.json"
FORMAT_NAME = "trtforge.exported_program"


# --- save ---------------------------------------------------------------------------------------

def _example_inputs(module: torch.nn.Module, inputs: Sequence[Any] | None,
                    dynamic_shapes: Any) -> tuple[tuple[torch.Tensor, ...], Any]:
    """Example tensors (and dynamic_shapes) for torch.export, from ``inputs`` or the graph's placeholders."""
    from trtforge.settings import Input

    if inputs is not None:
        examples: list[torch.Tensor] = []
        dyn: list[Any] = []
        any_dynamic = False
        for i, item in enumerate(inputs):
            if isinstance(item, torch.Tensor):
                examples.append(item)
                dyn.append(None)
            elif isinstance(item, Input):
                shape = []
                dims: dict[int, Any] = {}
                for d, (lo, opt, hi) in enumerate(zip(item.min_shape, item.opt_shape, item.max_shape)):  # type: ignore[arg-type]
                    if lo == hi:
                        shape.append(opt)
                        continue
                    # torch.export specializes sizes 0 and 1: trace with a size >= 2 inside the range
                    shape.append(opt if opt >= 2 else min(2, hi))
                    dims[d] = torch.export.Dim(f"input{i}_dim{d}", min=lo, max=hi)
                    any_dynamic = True
                examples.append(torch.zeros(shape, dtype=item.dtype, device=_module_device(module)))
                dyn.append(dims or None)
            else:
                raise TypeError(
                    f"trtforge.save: inputs[{i}] is a {type(item).__name__}; give example tensors or "
                    "trtforge.Input specs"
                )
        if dynamic_shapes is None and any_dynamic:
            dynamic_shapes = tuple(dyn)
        return tuple(examples), dynamic_shapes

    if isinstance(module, torch.fx.GraphModule):
        vals = [n.meta.get("val", n.meta.get("example_value")) for n in module.graph.nodes if n.op == "placeholder"]
        if vals and all(isinstance(v, torch.Tensor) for v in vals):
            examples = []
            dyn = []
            symbols: dict[Any, Any] = {}
            any_dynamic = False
            for i, v in enumerate(vals):
                shape = []
                dims = {}
                for d, s in enumerate(v.shape):
                    if isinstance(s, torch.SymInt):
                        node = s.node
                        hint = node.hint if node.hint is not None else 2
                        shape.append(int(hint))
                        expr = node.expr
                        if expr not in symbols:
                            lo, hi = 0, None
                            try:
                                rng = node.shape_env.var_to_range.get(expr)
                                if rng is not None:
                                    lo = int(rng.lower)
                                    hi = int(rng.upper) if rng.upper.is_finite else None
                            except Exception:  # pragma: no cover - best effort
                                pass
                            symbols[expr] = torch.export.Dim(f"s{len(symbols)}", min=lo, max=hi)
                        dims[d] = symbols[expr]
                        any_dynamic = True
                    else:
                        shape.append(int(s))
                examples.append(torch.zeros(shape, dtype=v.dtype, device=v.device))
                dyn.append(dims or None)
            if dynamic_shapes is None and any_dynamic:
                dynamic_shapes = tuple(dyn)
            return tuple(examples), dynamic_shapes
    raise ValueError(
        "trtforge.save needs example inputs: pass inputs=[tensor or trtforge.Input(...), ...] (the graph's "
        "placeholders carry no example values)"
    )


def _module_device(module: torch.nn.Module) -> torch.device:
    """Where the program's PyTorch segments live (their first parameter or buffer), else where engines run."""
    from .module import TRTEngineModule

    engine_buffers = {id(m.engine) for m in module.modules() if isinstance(m, TRTEngineModule)}
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in engine_buffers:
            return t.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _fill_shape_exprs(module: torch.nn.Module) -> None:
    """Give dynamic engine outputs their size expressions from the graph's recorded shapes.

    An output dimension of -1 with no :attr:`TensorSpec.shape_expr` would be traced
    as a fresh size unrelated to the inputs (torch.export then adds runtime
    asserts that reject sizes 0 and 1). The compiled graph usually knows better:
    its engine call nodes carry ``meta["val"]`` from the original export.
    """
    from .metadata import symbolic_shape_exprs
    from .module import TRTEngineModule

    for gm in module.modules():
        if not isinstance(gm, torch.fx.GraphModule):
            continue
        for node in gm.graph.nodes:
            if node.op != "call_module":
                continue
            eng = gm.get_submodule(node.target)
            if not isinstance(eng, TRTEngineModule):
                continue
            outs = eng.metadata.outputs
            todo = [i for i, o in enumerate(outs) if o.shape_expr is None and any(d < 0 for d in o.shape)]
            if not todo:
                continue
            in_vals = [a.meta.get("val") if isinstance(a, torch.fx.Node) else None for a in node.args]
            if len(outs) == 1:
                out_vals = [node.meta.get("val")]
            else:
                out_vals = [None] * len(outs)
                for user in node.users:
                    if user.op == "call_function" and user.target is operator.getitem \
                            and isinstance(user.args[1], int) and user.args[1] < len(outs):
                        out_vals[user.args[1]] = user.meta.get("val")
            if not all(isinstance(v, torch.Tensor) for v in in_vals):
                continue
            exprs_in = [tuple(v.shape) for v in in_vals]
            for i in todo:
                v = out_vals[i]
                if not isinstance(v, torch.Tensor) or v.dim() != len(outs[i].shape):
                    continue
                (exprs,) = symbolic_shape_exprs(exprs_in, [tuple(v.shape)])
                if any(e is not None for e in exprs):
                    outs[i].shape_expr = exprs
                    eng._metadata_json = None


def _engine_nodes(ep: torch.export.ExportedProgram) -> list[torch.fx.Node]:
    from .ops import is_engine_node

    return [n for n in ep.graph.nodes if is_engine_node(n)]


def save(
    module: torch.nn.Module,
    path: str | os.PathLike[str],
    inputs: Sequence[Any] | None = None,
    *,
    kwarg_inputs: dict[str, Any] | None = None,
    dynamic_shapes: Any = None,
    strict: bool = False,
) -> None:
    """Save a compiled program as a torch.export ``.pt2`` archive that :func:`load` reads back.

    ``inputs``: example tensors or :class:`trtforge.Input` specs (dynamic ranges
    become ``torch.export.Dim`` s); default: the example values recorded on the
    graph's placeholders. ``dynamic_shapes`` is passed to ``torch.export.export``
    as is. Raises if an engine was compiled with ``build=False``.
    """
    from .module import TRTEngineModule

    engines = [m for m in module.modules() if isinstance(m, TRTEngineModule)]
    unbuilt = [m.metadata.name for m in engines if m.engine is None]
    if unbuilt:
        raise SavedProgramError(
            f"cannot save: engine(s) {unbuilt} were compiled with build=False and hold no engine; "
            "compile with build=True"
        )
    args, dynamic_shapes = _example_inputs(module, inputs, dynamic_shapes)
    _fill_shape_exprs(module)
    was_training = module.training
    module.eval()
    try:
        ep = torch.export.export(module, args, kwarg_inputs, dynamic_shapes=dynamic_shapes, strict=strict)
    finally:
        module.train(was_training)
    nodes = _engine_nodes(ep)
    if len(nodes) < len(engines):
        warnings.warn(
            f"trtforge.save: the program holds {len(engines)} engine module(s) but only {len(nodes)} "
            "ran while exporting; unused engines are not saved", stacklevel=2,
        )
    sig = ep.graph_signature
    where = {**sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}
    records = []
    for n in nodes:
        md = json.loads(n.args[2])
        records.append({"node": n.name, "engine_tensor": where.get(n.args[1].name, n.args[1].name), "metadata": md})
    fallback_ops = sum(
        1 for n in ep.graph.nodes
        if n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)
        and not n.target.name().split("::")[-1].startswith(("_assert", "sym_"))
        and n not in nodes
    )
    from trtforge._version import __version__

    manifest = {
        "abi_version": ABI_VERSION,
        "format": FORMAT_NAME,
        "trtforge_version": __version__,
        "torch_version": torch.__version__,
        "engines": records,
        "fallback_ops": fallback_ops,
    }
    torch.export.save(ep, path, extra_files={MANIFEST_NAME: json.dumps(manifest, indent=1)})


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


def read_manifest(path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """The trtforge manifest of a saved program, after checking (in this order) that the file is a
    readable archive, that it is a trtforge program, its ABI version, and (``verify``) the CRC of every
    archive member. Raises :class:`SavedProgramError` subclasses saying which check failed."""
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
                bad = zf.testzip()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as exc:
                raise CorruptedProgramError(f"{p!r} is truncated or corrupted: {exc}") from None
            if bad is not None:
                raise CorruptedProgramError(
                    f"{p!r} is corrupted: archive member {bad!r} fails its CRC check"
                )
        for rec in manifest.get("engines", []):
            check_abi_version(rec.get("metadata", {}), f"{p!r}, engine record {rec.get('node', '?')!r}")
    return manifest


def _check_backends(manifest: dict[str, Any]) -> None:
    from .runner import require_backend

    for rec in manifest.get("engines", []):
        md = EngineMetadata.from_dict(rec["metadata"])
        trt = require_backend(md)
        installed = str(getattr(trt, "__version__", ""))
        if md.backend_version and installed and md.backend_version != installed:
            warnings.warn(
                f"engine {md.name!r} was built with {md.backend} {md.backend_version}; {installed} is "
                "installed. TensorRT engines load only on the version that built them unless built "
                "version-compatible: if running it fails, recompile",
                stacklevel=3,
            )


def load(path: str | os.PathLike[str], *, verify: bool = True) -> torch.fx.GraphModule:
    """Load a program saved with :func:`save`; returns a GraphModule whose engines are TRTEngineModules.

    Checks, in order: the file is a complete archive; it is a trtforge program; its ABI
    version; every member's CRC (``verify``); the TensorRT backend each engine was built
    for is installed; each engine's sha256. Each failure raises a :class:`SavedProgramError`
    (or :class:`TensorRTNotInstalledError`) saying exactly which. Needs no GPU: engines are
    deserialized on their first call.
    """
    p = os.fspath(path)
    manifest = read_manifest(p, verify=verify)
    _check_backends(manifest)
    from . import ops  # noqa: F401  (the operator must exist before torch.export.load)

    try:
        ep = torch.export.load(p)
    except (SavedProgramError, TensorRTNotInstalledError):
        raise
    except Exception as exc:
        raise CorruptedProgramError(f"{p!r}: torch.export.load failed: {type(exc).__name__}: {exc}") from exc
    gm = ep.module()
    _attach_engine_modules(gm)
    gm.trtforge_manifest = manifest  # type: ignore[assignment]
    return gm


def _attach_engine_modules(gm: torch.fx.GraphModule) -> None:
    """Replace each ``execute_engine`` node by a call of a TRTEngineModule holding its engine buffer."""
    from .module import TRTEngineModule
    from .ops import _get_attr, _parse_metadata, is_engine_node

    graph = gm.graph
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


# --- inspect ------------------------------------------------------------------------------------

def inspect_saved(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything ``trtforge inspect`` prints, as a dict; needs no GPU and no TensorRT."""
    p = os.fspath(path)
    manifest = read_manifest(p, verify=True)
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
        "integrity": "ok (CRC of every archive member checked)",
        "fallback_ops": manifest.get("fallback_ops"),
        "engines": engines,
    }
