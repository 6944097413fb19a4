"""``trtforge.save``: a compiled program as a torch.export ``.pt2`` archive (format: :mod:`.archive`)."""
from __future__ import annotations

import json
import operator
import os
import warnings
from typing import Any, Sequence

import torch

from ..errors import SavedProgramError
from .archive import FORMAT_NAME, MANIFEST_NAME
from .metadata import ABI_VERSION
from .program import is_fallback_op

__all__ = ["save"]


# --- save ---------------------------------------------------------------------------------------

def _example_inputs(module: torch.nn.Module, inputs: Sequence[Any] | None,
                    dynamic_shapes: Any) -> tuple[tuple[torch.Tensor, ...], Any]:
    """Example tensors (and dynamic_shapes) for torch.export, from ``inputs`` or the graph's placeholders."""
    from ..inputs import dynamic_shapes_for, export_example
    from ..settings import Input

    if inputs is not None:
        specs: list[Input] = []
        for i, item in enumerate(inputs):
            if isinstance(item, torch.Tensor):
                specs.append(Input.from_tensor(item))
            elif isinstance(item, Input):
                specs.append(item)
            else:
                raise TypeError(
                    f"trtforge.save: inputs[{i}] is a {type(item).__name__}; give example tensors or "
                    "trtforge.Input specs"
                )
        device = _module_device(module)
        examples = tuple(item if isinstance(item, torch.Tensor) else export_example(item).to(device)
                         for item in inputs)
        return examples, dynamic_shapes if dynamic_shapes is not None else dynamic_shapes_for(specs)

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


def _keyword_examples(module: torch.nn.Module, inputs: Sequence[Any], kwarg_inputs: dict[str, Any],
                      dynamic_shapes: Any) -> tuple[tuple[torch.Tensor, ...], dict[str, Any], Any]:
    """Examples of positional and keyword inputs; their dynamic shapes by ``forward``'s parameter names."""
    import inspect

    n = len(inputs)
    examples, dyn = _example_inputs(module, [*inputs, *kwarg_inputs.values()], dynamic_shapes)
    if dynamic_shapes is None and dyn is not None:
        names = list(inspect.signature(module.forward).parameters)
        dyn = {**dict(zip(names, dyn[:n])), **dict(zip(kwarg_inputs, dyn[n:]))}
    return examples[:n], dict(zip(kwarg_inputs, examples[n:])), dyn


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


def _strip_engines(engines: Sequence[Any]) -> list[tuple[Any, Any, Any]]:
    """Swap each engine's bytes for a weight-stripped serialization (for the length of a save);
    returns what to put back."""
    import dataclasses

    from ..errors import RefitError
    from .metadata import engine_sha256

    fixed = [e.metadata.name for e in engines if not e.metadata.refittable]
    if fixed:
        raise RefitError(
            f"cannot save with strip_weights=True: engine(s) {fixed} were built with immutable_weights=True, "
            "so their weights cannot be refitted on load; compile with immutable_weights=False"
        )
    restore = []
    for e in engines:
        if e.metadata.weights_stripped:
            continue
        data = e._runner_or_create().serialize_without_weights()  # TensorRT, on the engine's GPU
        restore.append((e, e.engine, e.metadata))
        e.engine = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        e.metadata = dataclasses.replace(e.metadata, weights_stripped=True, sha256=engine_sha256(e.engine),
                                         engine_bytes=int(e.engine.numel()))
        e._metadata_json = None
    return restore


def save(
    module: torch.nn.Module,
    path: str | os.PathLike[str],
    inputs: Sequence[Any] | None = None,
    *,
    arg_inputs: Sequence[Any] | None = None,
    kwarg_inputs: dict[str, Any] | None = None,
    dynamic_shapes: Any = None,
    strict: bool = False,
    strip_weights: bool = False,
) -> None:
    """Save a compiled program as a torch.export ``.pt2`` archive that :func:`load` reads back.

    ``inputs`` (or ``arg_inputs``): example tensors or :class:`trtforge.Input` specs (dynamic
    ranges become ``torch.export.Dim`` s), ``kwarg_inputs`` the same by keyword; default: the
    example values recorded on the graph's placeholders. ``dynamic_shapes`` is passed to ``torch.export.export``
    as is. Raises if an engine was compiled with ``build=False``, and
    :class:`trtforge._io.OutputWriteError` (naming the path and the reason) if the file cannot be
    written; the file that was at ``path`` is then unchanged.

    ``strip_weights=True`` writes every engine without its refittable weights (engines
    compiled with ``immutable_weights=False``); ``load(path, weights=model)`` refits them.
    Stripping a built engine re-serializes it with TensorRT (a GPU); engines built with
    ``strip_engine_weights=True`` are already stripped.
    """
    from .._io import atomic_write, check_output_path
    from .module import TRTEngineModule

    check_output_path(path, "compiled program")  # before the export, which takes a while
    engines = [m for m in module.modules() if isinstance(m, TRTEngineModule)]
    unbuilt = [m.metadata.name for m in engines if m.engine is None]
    if unbuilt:
        raise SavedProgramError(
            f"cannot save: engine(s) {unbuilt} were compiled with build=False and hold no engine; "
            "compile with build=True"
        )
    if inputs is not None and arg_inputs is not None:
        raise TypeError("trtforge.save: give inputs= or arg_inputs= (the same thing), not both")
    inputs = arg_inputs if inputs is None else inputs
    if kwarg_inputs:
        args, kwarg_inputs, dynamic_shapes = _keyword_examples(module, inputs or (), kwarg_inputs, dynamic_shapes)
    else:
        args, dynamic_shapes = _example_inputs(module, inputs, dynamic_shapes)
    _fill_shape_exprs(module)
    from .._eval import eval_mode

    restore = _strip_engines(engines) if strip_weights else []
    try:
        with eval_mode(module):
            ep = torch.export.export(module, args, kwarg_inputs, dynamic_shapes=dynamic_shapes, strict=strict)
    finally:
        for e, engine, md in restore:
            e.engine, e.metadata, e._metadata_json = engine, md, None
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
    fallback_ops = sum(1 for n in ep.graph.nodes if is_fallback_op(n))
    from trtforge._version import __version__

    manifest = {
        "abi_version": ABI_VERSION,
        "format": FORMAT_NAME,
        "trtforge_version": __version__,
        "torch_version": torch.__version__,
        "engines": records,
        "fallback_ops": fallback_ops,
    }
    # atomic: a full disk or an interrupt leaves the file that was there before intact
    with atomic_write(path, "compiled program") as f:
        torch.export.save(ep, f, extra_files={MANIFEST_NAME: json.dumps(manifest, indent=1)})
