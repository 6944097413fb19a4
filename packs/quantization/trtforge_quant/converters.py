"""Converters of the quantize/dequantize ops PT2E (``quantized_decomposed``) and torchao leave in a graph.

Each op is first read into one :class:`QSpec` (the same reader serves the capability
validator, which sees fx nodes, and the converter, which sees ITensors and weights), then
checked against what TensorRT expresses (:mod:`.schemes`) and built (:mod:`.layers`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (defines torch.ops.quantized_decomposed)

import trtforge

from . import layers, schemes
from .schemes import Granularity

qd = torch.ops.quantized_decomposed

#: every converter function of the pack, in registration order
ALL: list[Callable[..., Any]] = []


@dataclass
class QSpec:
    """One quantize or dequantize call, whatever op expressed it."""

    quantize: bool
    scale: Any
    zero_point: Any
    dtype: torch.dtype
    quant_min: Any
    quant_max: Any
    granularity: Granularity | str
    out_dtype: torch.dtype | None = None

    def refusal(self, runtime_input: bool) -> str | None:
        """Why TensorRT cannot express this call (None if it can)."""
        if isinstance(self.granularity, str):
            return self.granularity
        reason = schemes.check_kind(self.dtype, self.quant_min, self.quant_max)
        reason = reason or schemes.check_scale(self.scale) or schemes.check_zero_point(self.zero_point)
        if reason or not runtime_input:
            return reason
        if self.granularity.axis is not None or self.granularity.block:
            return (f"{self.granularity.name} scales on a run-time tensor: TensorRT quantizes activations "
                    "per tensor (per-channel and block scales are for weights)")
        if self.quantize:
            return schemes.check_activation_range(self.kind, self.quant_min, self.quant_max)
        return None

    @property
    def kind(self) -> str:
        return schemes.kind_of(self.dtype, self.quant_min, self.quant_max)  # type: ignore[return-value]


def _arg(args: Any, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _shape(x: Any) -> tuple:
    if isinstance(x, torch.fx.Node):
        value = x.meta["val"] if "val" in x.meta else schemes.constant_value(x)
        return tuple(value.shape)
    return tuple(x.shape)


def _rank(x: Any) -> int:
    return len(_shape(x))


def _per_tensor(quantize: bool) -> Callable[[Any, dict], QSpec]:
    def read(args: Any, kwargs: dict) -> QSpec:
        return QSpec(quantize, args[1], args[2], args[5], args[3], args[4], Granularity(),
                     _arg(args, kwargs, 6, "out_dtype"))
    return read


def _per_channel(quantize: bool) -> Callable[[Any, dict], QSpec]:
    def read(args: Any, kwargs: dict) -> QSpec:
        axis = int(args[3]) % _rank(args[0])
        return QSpec(quantize, args[1], args[2], args[6], args[4], args[5], Granularity(axis=axis),
                     _arg(args, kwargs, 7, "out_dtype"))
    return read


def _per_channel_group(args: Any, kwargs: dict) -> QSpec:
    shape = _shape(args[0])
    group = schemes.check_block(shape, (1,) * (len(shape) - 1) + (int(args[6]),))
    return QSpec(False, args[1], args[2], args[5], args[3], args[4], group,
                 _arg(args, kwargs, 7, "output_dtype", torch.float32))


def _affine(quantize: bool) -> Callable[[Any, dict], QSpec]:
    def read(args: Any, kwargs: dict) -> QSpec:
        granularity = schemes.from_block_size(_shape(args[0]), args[1])
        out = None if quantize else _arg(args, kwargs, 7, "output_dtype", torch.float32)
        return QSpec(quantize, args[2], args[3], args[4], _arg(args, kwargs, 5, "quant_min"),
                     _arg(args, kwargs, 6, "quant_max"), granularity, out)
    return read


def _float8(quantize: bool) -> Callable[[Any, dict], QSpec]:
    def read(args: Any, kwargs: dict) -> QSpec:
        scale = schemes.constant_value(args[1])
        shape = _shape(args[0])
        if scale is None or scale.numel() == 1:
            granularity: Granularity | str = Granularity()
        else:  # torchao's float8 scales broadcast like a block_size of shape // scale.shape
            full = list(scale.shape) if scale.dim() == len(shape) else [1] * (len(shape) - scale.dim()) + list(scale.shape)
            granularity = schemes.from_block_size(shape, [n // s for n, s in zip(shape, full)])
        dtype = _arg(args, kwargs, 2, "float8_dtype", torch.float8_e4m3fn) if quantize else torch.float8_e4m3fn
        out = None if quantize else _arg(args, kwargs, 2, "output_dtype", torch.float32)
        return QSpec(quantize, args[1], None, dtype, None, None, granularity, out)
    return read


READERS: dict[Any, Callable[[Any, dict], QSpec]] = {
    qd.quantize_per_tensor.default: _per_tensor(True),
    qd.quantize_per_tensor.tensor: _per_tensor(True),
    qd.quantize_per_tensor.tensor2: _per_tensor(True),
    qd.dequantize_per_tensor.default: _per_tensor(False),
    qd.dequantize_per_tensor.tensor: _per_tensor(False),
    qd.dequantize_per_tensor.tensor2: _per_tensor(False),
    qd.quantize_per_channel.default: _per_channel(True),
    qd.dequantize_per_channel.default: _per_channel(False),
    qd.dequantize_per_channel_group.default: _per_channel_group,
}


def _torchao_readers() -> dict[Any, Callable[[Any, dict], QSpec]]:
    """torchao's ops, where torchao is installed (it defines them on import)."""
    try:
        import torchao  # noqa: F401
    except ImportError:
        return {}
    ao = torch.ops.torchao
    return {
        ao.quantize_affine.default: _affine(True),
        ao.dequantize_affine.default: _affine(False),
        ao.quantize_affine_float8_non_decomposed.default: _float8(True),
        ao.dequantize_affine_float8_non_decomposed.default: _float8(False),
    }


READERS.update(_torchao_readers())


def _expressible(node: torch.fx.Node, settings: Any) -> Any:
    """Capability validator: refuse, with the reason, any scheme TensorRT cannot express."""
    try:
        spec = READERS[node.target](node.args, node.kwargs)
    except Exception as exc:  # an argument layout this pack does not know
        return trtforge.Refusal(f"cannot read the quantization arguments: {exc}")
    x = node.args[0]
    reason = spec.refusal(runtime_input=schemes.constant_value(x) is None)
    return trtforge.Refusal(reason) if reason else True


def _quantized_constant(ctx: Any, values: torch.Tensor, x: torch.Tensor, scale: Any, kind: str,
                        g: Granularity) -> Any:
    """A weight quantized once, here, by the op itself: INT8 storage, or FP8 through a Q layer."""
    if kind == schemes.FP8:  # the bindings cannot hand FP8 constants to the reference executor
        return layers.quantize(ctx, ctx.constant(x), scale, kind, g)
    return ctx.constant(values.to(torch.int8))


def convert(ctx: Any, target: Any, args: Any, kwargs: dict, name: str) -> Any:
    spec = READERS[target](args, kwargs)
    x, scale, g = args[0], schemes.constant_value(spec.scale), spec.granularity
    assert isinstance(g, Granularity)  # the validator refused the rest
    if spec.quantize:
        if isinstance(x, torch.Tensor):
            return _quantized_constant(ctx, target(*args, **kwargs), x, scale, spec.kind, g)
        return layers.quantize(ctx, x, scale, spec.kind, g)
    out_dtype = ctx.output_dtype() or torch.float32
    if isinstance(x, torch.Tensor):
        return layers.dequantize_weight(ctx, x, scale, spec.kind, g, out_dtype)
    return layers.dequantize(ctx, x, scale, g, out_dtype)


for _target in READERS:
    convert = trtforge.converter(_target, supports_dynamic_shapes=True, capability_validator=_expressible)(convert)
ALL.append(convert)
