"""Reading one quantize or dequantize call, whatever op expressed it, into a :class:`QSpec`.

Arguments are read by their schema name (the overloads put them at different positions). What
depends on shapes (a channel axis, torchao's ``block_size``) is read from the fx node, whose
sizes are symbolic where the profile is dynamic; the capability validator and the converter
pass the same node, so they cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (defines torch.ops.quantized_decomposed)

from trtforge.conversion.args import argument, node_argument, value_of

from . import schemes
from .schemes import Granularity

qd = torch.ops.quantized_decomposed


@dataclass
class QSpec:
    """One quantize or dequantize call: the input as the caller sees it (an fx node in a
    validator, an ITensor or weight in a converter), and the scheme's build-time constants."""

    quantize: bool
    x: Any
    scale: Any
    zero_point: Any
    dtype: torch.dtype
    quant_min: int | None
    quant_max: int | None
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


#: ATen's ScalarType numbers of the dtypes these ops default to: a schema default of a ScalarType
#: argument of an op defined in Python (torchao's ``output_dtype=6``) reads as the number
_SCALAR_TYPES = {5: torch.float16, 6: torch.float32, 15: torch.bfloat16, 23: torch.float8_e5m2,
                 24: torch.float8_e4m3fn}


class _Call:
    """The arguments of one call by schema name, and the fx node for what depends on shapes."""

    def __init__(self, target: Any, args: Any, kwargs: dict, node: torch.fx.Node) -> None:
        self.target, self.args, self.kwargs, self.node = target, args, kwargs, node

    def __call__(self, name: str) -> Any:
        return argument(self.target, self.args, self.kwargs, name)

    def dtype(self, name: str) -> torch.dtype | None:
        """A ScalarType argument as a torch dtype (None if left out without a default)."""
        value = argument(self.target, self.args, self.kwargs, name, default=None)
        return _SCALAR_TYPES[value] if isinstance(value, int) else value

    def bound(self, name: str) -> int | None:
        """``quant_min``/``quant_max``: a number, or a constant tensor (the ``.tensor2`` overloads)."""
        value = self(name)
        if value is None or isinstance(value, int):
            return value
        constant = schemes.constant_value(value)
        if constant is None:
            raise ValueError(f"{name} is computed at run time; TensorRT needs a build-time range")
        return int(constant)

    def shape(self, name: str) -> tuple:
        """The shape of a tensor argument, from the fx node: a constant's own (a weight a pass
        added may carry a fake value with symbolic sizes), else PyTorch's, symbolic where dynamic."""
        value = node_argument(self.node, name)
        constant = schemes.constant_value(value)
        return tuple((constant if constant is not None else value_of(value)).shape)

    def sizes(self, name: str) -> list:
        """A ``SymInt[]`` argument from the fx node (sizes computed from shapes as SymInts)."""
        return [value_of(v) for v in node_argument(self.node, name)]


Reader = Callable[[_Call], QSpec]


def _per_tensor(quantize: bool) -> Reader:
    def read(a: _Call) -> QSpec:
        return QSpec(quantize, a("input"), a("scale"), a("zero_point"), a("dtype"), a.bound("quant_min"),
                     a.bound("quant_max"), Granularity(), a.dtype("out_dtype"))  # quantize has no out_dtype: None
    return read


def _per_channel(quantize: bool) -> Reader:
    def read(a: _Call) -> QSpec:
        axis = int(a("axis")) % len(a.shape("input"))
        return QSpec(quantize, a("input"), a("scales"), a("zero_points"), a("dtype"), a.bound("quant_min"),
                     a.bound("quant_max"), Granularity(axis=axis), a.dtype("out_dtype"))
    return read


def _per_channel_group(a: _Call) -> QSpec:
    shape = a.shape("input")
    group = schemes.check_block(shape, (1,) * (len(shape) - 1) + (int(a("group_size")),))
    return QSpec(False, a("input"), a("scales"), a("zero_points"), a("dtype"), a.bound("quant_min"),
                 a.bound("quant_max"), group, a.dtype("output_dtype") or torch.float32)


def _affine(quantize: bool) -> Reader:
    def read(a: _Call) -> QSpec:
        granularity = schemes.from_block_size(a.shape("input"), a.sizes("block_size"))
        # quantize_affine's output_dtype is the quantized type; dequantize_affine's input_dtype is
        quantized = a.dtype("output_dtype" if quantize else "input_dtype")
        out = None if quantize else a.dtype("output_dtype")
        return QSpec(quantize, a("input"), a("scale"), a("zero_point"), quantized, a.bound("quant_min"),
                     a.bound("quant_max"), granularity, out)
    return read


def _float8(quantize: bool) -> Reader:
    def read(a: _Call) -> QSpec:
        scale = schemes.constant_value(node_argument(a.node, "scale"))
        shape = a.shape("tensor")
        if scale is None or scale.numel() == 1:
            granularity: Granularity | str = Granularity()
        else:  # torchao's float8 scales broadcast like a block_size of shape // scale.shape
            full = list(scale.shape) if scale.dim() == len(shape) else [1] * (len(shape) - scale.dim()) + list(scale.shape)
            granularity = schemes.from_block_size(shape, [n // s for n, s in zip(shape, full)])
        dtype = a.dtype("float8_dtype") if quantize else torch.float8_e4m3fn
        out = None if quantize else a.dtype("output_dtype")
        return QSpec(quantize, a("tensor"), a("scale"), None, dtype, None, None, granularity, out)
    return read


READERS: dict[Any, Reader] = {
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


def _torchao_readers() -> dict[Any, Reader]:
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


def read(target: Any, args: Any, kwargs: dict, node: torch.fx.Node) -> QSpec:
    """The :class:`QSpec` of a call of ``target`` (a key of :data:`READERS`) at ``node``."""
    return READERS[target](_Call(target, args, kwargs, node))
