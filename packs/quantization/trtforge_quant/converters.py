"""Converters of the quantize/dequantize ops PT2E (``quantized_decomposed``) and torchao leave in a graph.

Each call is first read into one :class:`~.readers.QSpec` (the same reader serves the
capability validator, which sees fx nodes, and the converter, which sees ITensors and
weights), then checked against what TensorRT expresses (:mod:`.schemes`) and built
(:mod:`.layers`).
"""
from __future__ import annotations

from typing import Any

import torch

import trtforge

from . import layers, schemes
from .readers import READERS, read
from .schemes import Granularity


def _expressible(node: torch.fx.Node, settings: Any) -> Any:
    """Capability validator: refuse, with the reason, any scheme TensorRT cannot express."""
    try:
        spec = read(node.target, node.args, node.kwargs, node)
    except Exception as exc:  # an argument layout this pack does not know
        return trtforge.Refusal(f"cannot read the quantization arguments: {exc}")
    reason = spec.refusal(runtime_input=schemes.constant_value(spec.x) is None)
    return trtforge.Refusal(reason) if reason else True


def _quantized_constant(ctx: Any, values: torch.Tensor, x: torch.Tensor, scale: Any, kind: str,
                        g: Granularity) -> Any:
    """A weight quantized once, here, by the op itself: INT8 storage, or FP8 through a Q layer."""
    if kind == schemes.FP8:  # the bindings cannot hand FP8 constants to the reference executor
        return layers.quantize(ctx, ctx.constant(x), scale, kind, g)
    return ctx.constant(values.to(torch.int8))


@trtforge.converter(*READERS, supports_dynamic_shapes=True, capability_validator=_expressible)
def convert(ctx: Any, target: Any, args: Any, kwargs: dict, name: str) -> Any:
    spec = read(target, args, kwargs, ctx.current_node)
    x, scale, g = spec.x, schemes.constant_value(spec.scale), spec.granularity
    assert isinstance(g, Granularity)  # the validator refused the rest
    if spec.quantize:
        if isinstance(x, torch.Tensor):
            return _quantized_constant(ctx, target(*args, **kwargs), x, scale, spec.kind, g)
        return layers.quantize(ctx, x, scale, spec.kind, g)
    out_dtype = ctx.output_dtype() or torch.float32
    if isinstance(x, torch.Tensor):
        return layers.dequantize_weight(ctx, x, scale, spec.kind, g, out_dtype)
    return layers.dequantize(ctx, x, scale, g, out_dtype)
