"""Turning one partition (a list of fx nodes) into a TensorRT network."""
from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch.fx import Node

from .. import backend as _backend
from ..plugins.converters import ConverterSpec, qualified_op_name
from ..settings import CompileSettings
from .bounds import SymbolRanges, dim_range
from .context import ConversionContext, ConversionError
from . import dtypes


@dataclass
class Network:
    """A constructed (not yet built) network and what the runtime will need to know."""

    name: str
    builder: Any
    network: Any
    ctx: ConversionContext
    input_names: list[str]
    output_names: list[str]
    #: per input: (min, opt, max) shapes (over all optimization profiles)
    profiles: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
    input_dtypes: list[torch.dtype]
    output_dtypes: list[torch.dtype]
    output_shapes: list[list[int]]
    requires_output_allocator: bool
    #: fx node name -> the TensorRT tensors standing for its outputs (read ``.name`` when needed)
    node_tensors: dict[str, list[Any]] = field(default_factory=dict)
    converters: dict[str, ConverterSpec] = field(default_factory=dict)
    logger: Any = None
    #: several optimization profiles: per profile, per input (min, opt, max); empty for one
    profile_sets: list[list[tuple[tuple[int, ...], ...]]] = field(default_factory=list)
    #: refittable compiles: the engine's refit map and unrefittable sources (see trtforge.refit)
    refit_map: dict[str, Any] = field(default_factory=dict)
    unrefittable: dict[str, str] = field(default_factory=dict)
    #: refit name -> the tensor TensorRT's weights point to
    refit_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    #: the backend that made the network, and builds its engine
    backend: Any = None
    #: the builder configuration (profiles, engine features), made right after conversion
    config: Any = None


def _as_tensor_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_network(
    name: str,
    nodes: Sequence[Node],
    inputs: Sequence[Node],
    outputs: Sequence[Node],
    specs: Mapping[Node, ConverterSpec],
    settings: CompileSettings,
    ranges: SymbolRanges,
    constants: Mapping[str, torch.Tensor],
    profile_ranges: Sequence[SymbolRanges] = (),
    tracker: Any = None,
    *,
    backend: _backend.Backend | None = None,
    observers: Iterable[Callable[[Network], None]] = (),
) -> Network:
    """Call each node's converter in order and mark the partition outputs.

    ``tracker`` (refittable compiles, a :class:`trtforge.refit.tracker.WeightTracker`) records
    how each weight handed to TensorRT was computed; the weights get refit names at the end.
    ``backend``: the compile's backend (default: the default one); ``observers`` are called
    with the finished network (the test kit reads its layers this way).
    """
    backend = backend or _backend.resolve()
    logger = backend.logger()
    builder = backend.module.Builder(logger)
    net = backend.create_network(builder)
    ctx = ConversionContext(net, settings, backend)
    ctx.tracker = tracker
    with tracker if tracker is not None else contextlib.nullcontext():
        result_net = _convert(name, nodes, inputs, outputs, specs, ranges, constants, profile_ranges,
                              builder, net, ctx, logger)
    if tracker is not None:
        from ..refit.naming import name_weights

        result_net.refit_map, result_net.unrefittable, result_net.refit_tensors = name_weights(net, ctx, tracker)
    result_net.backend = backend
    for observe in observers:
        observe(result_net)
    return result_net


def _mark_output(ctx: ConversionContext, net: Any, value: Any, val: Any, k: int) -> tuple[Any, torch.dtype]:
    """Mark ``value`` as network output ``k`` in the dtype PyTorch gives it (``val``'s)."""
    t = value if ctx.is_tensor(value) else ctx.to_trt(value)
    want = val.dtype if isinstance(val, torch.Tensor) else ctx.torch_dtype(t)
    if want == torch.float64:
        want = torch.float32
    t = dtypes.cast_layer(ctx, t, want)
    if t.is_network_input or t.is_network_output:
        t = ctx.out(net.add_identity(t), "output")
    t.name = f"output_{k}"
    net.mark_output(t)
    list(t.shape)  # TensorRT reports a layer it cannot shape here, while we know who made it
    return t, want


def _converter_failed(spec: ConverterSpec, n: Node, exc: Exception, trt_errors: list[str]) -> ConversionError:
    """The error naming the node, converter and pack, with TensorRT's own messages logged while the
    converter ran (the bindings' exception often says only "Could not get tensor shape")."""
    said = f"; TensorRT said: {' | '.join(trt_errors)}" if trt_errors else ""
    err = ConversionError(
        f"converter {spec.fn_name} from pack {spec.pack!r} failed on node {n.name} "
        f"({qualified_op_name(n.target)}): {type(exc).__name__}: {exc}{said}"
    )
    err.node, err.converter, err.pack, err.trt_errors = n.name, spec.fn_name, spec.pack, list(trt_errors)
    return err


def _convert(name: str, nodes: Sequence[Node], inputs: Sequence[Node], outputs: Sequence[Node],
             specs: Mapping[Node, ConverterSpec], ranges: SymbolRanges, constants: Mapping[str, torch.Tensor],
             profile_ranges: Sequence[SymbolRanges], builder: Any, net: Any, ctx: ConversionContext,
             logger: Any) -> Network:
    env: dict[Node, Any] = {}
    profiles, in_dtypes, in_names = [], [], []
    profile_sets: list[list[Any]] = [[] for _ in profile_ranges]
    for i, p in enumerate(inputs):
        val = p.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise ConversionError(f"engine input {p.name} is a {type(val).__name__}, not a tensor")
        rng = [dim_range(d, ranges) for d in val.shape]
        shape = tuple(lo if lo == hi else -1 for lo, _, hi in rng)
        tname = f"input_{i}"
        env[p] = net.add_input(tname, dtypes.to_trt(val.dtype, ctx.trt), shape)
        profiles.append(tuple(tuple(r[k] for r in rng) for k in range(3)))
        for per_input, pr in zip(profile_sets, profile_ranges):
            prng = [dim_range(d, pr) for d in val.shape]
            per_input.append(tuple(tuple(r[k] for r in prng) for k in range(3)))
        in_dtypes.append(val.dtype)
        in_names.append(tname)
    node_tensors: dict[str, list[Any]] = {}
    used: dict[str, ConverterSpec] = {}
    for n in nodes:
        for p in n.all_input_nodes:
            if p.op == "get_attr" and p not in env:
                env[p] = constants[p.target]
        if n.op == "call_function" and n.target is operator.getitem:
            env[n] = env[n.args[0]][n.args[1]]
            if ctx.is_tensor(env[n]):
                node_tensors[n.name] = [env[n]]
            continue
        spec = specs[n]
        args = torch.fx.node.map_arg(n.args, lambda x: env[x])
        kwargs = torch.fx.node.map_arg(n.kwargs, lambda x: env[x])
        ctx.current_node = n
        if ctx.tracker is not None:
            ctx.tracker.where = f"node {n.name}"
        seen = len(logger.errors) if logger is not None else 0
        try:
            result = spec.fn(ctx, n.target, args, kwargs, n.name)
        except Exception as exc:
            raise _converter_failed(spec, n, exc, logger.errors[seen:] if logger is not None else []) from exc
        finally:
            ctx.current_node = None
        if result is None:
            raise ConversionError(
                f"converter {spec.fn_name} from pack {spec.pack!r} returned None for node {n.name} "
                f"({qualified_op_name(n.target)}); converters return the output ITensor(s)"
            )
        env[n] = result
        used[n.name] = spec
        node_tensors[n.name] = [t for t in _as_tensor_list(result) if ctx.is_tensor(t)]
    out_names, out_dtypes, out_shapes = [], [], []
    for k, o in enumerate(outputs):
        seen = len(logger.errors) if logger is not None else 0
        try:
            t, want = _mark_output(ctx, net, env[o], o.meta.get("val"), k)
        except Exception as exc:  # TensorRT refuses a tensor a converter made: name who made it
            source = o.args[0] if o.op == "call_function" and o.target is operator.getitem else o
            spec = used.get(getattr(source, "name", ""))
            if spec is None:
                raise
            raise _converter_failed(spec, source, exc, logger.errors[seen:] if logger is not None else []) from exc
        out_names.append(t.name)
        out_dtypes.append(want)
        out_shapes.append(list(t.shape))
    return Network(
        name=name,
        builder=builder,
        network=net,
        ctx=ctx,
        input_names=in_names,
        output_names=out_names,
        profiles=profiles,  # type: ignore[arg-type]
        input_dtypes=in_dtypes,
        output_dtypes=out_dtypes,
        output_shapes=out_shapes,
        requires_output_allocator=any(s.requires_output_allocator for s in used.values()),
        node_tensors=node_tensors,
        converters=used,
        logger=logger,
        profile_sets=profile_sets,
    )
