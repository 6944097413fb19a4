"""What TensorRT's quantize/dequantize layers can express, decided on the exported graph.

TensorRT quantizes symmetrically only (zero points must be zero), to INT8 [-128, 127],
INT4 [-8, 7] (weights) or FP8 E4M3, with build-time constant, strictly positive scales
that are per tensor, per channel (one axis) or per block (one blocked dimension, the
last or second to last). Every ``check_*`` returns ``None`` when TensorRT can express the
argument and otherwise the reason it cannot, which the converters' capability validators
hand to the compile report. One module holds these rules so that validators and
converters cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

#: TensorRT's quantized data types: (range of values, torch dtype that carries them)
INT8, INT4, FP8 = "INT8", "INT4", "FP8"
RANGES = {INT8: (-128, 127), INT4: (-8, 7), FP8: (-448, 448)}

def constant_value(value: Any) -> torch.Tensor | None:
    """The value of a build-time constant argument (a number, or a weight/buffer node); None if run-time."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(value)
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, torch.fx.Node) and value.op == "get_attr":
        obj: Any = value.graph.owning_module
        for part in str(value.target).split("."):
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, torch.Tensor) else None
    return None


def kind_of(dtype: torch.dtype, quant_min: Any = None, quant_max: Any = None) -> str | None:
    """TensorRT's type for a quantized dtype and integer range; None when it has none."""
    if dtype == torch.float8_e4m3fn:
        return FP8
    if dtype not in (torch.int8, getattr(torch, "int4", None)):
        return None
    lo = -128 if quant_min is None else int(quant_min)
    hi = 127 if quant_max is None else int(quant_max)
    if -8 <= lo and hi <= 7 and dtype != torch.int8 or (lo, hi) == (-8, 7):
        return INT4
    return INT8 if -128 <= lo and hi <= 127 else None


def check_kind(dtype: torch.dtype, quant_min: Any = None, quant_max: Any = None) -> str | None:
    if kind_of(dtype, quant_min, quant_max) is not None:
        return None
    if dtype == torch.uint8:
        return ("quantizes to unsigned 8-bit (an asymmetric scheme): TensorRT's INT8 is signed and symmetric; "
                "quantize with dtype=torch.int8, quant_min=-128, quant_max=127 and a symmetric qscheme")
    return (f"quantizes to {dtype} [{quant_min}, {quant_max}]: TensorRT quantizes only to INT8 [-128, 127], "
            "INT4 [-8, 7] (weights) and FP8 E4M3")


def check_zero_point(zero_point: Any) -> str | None:
    if zero_point is None:
        return None
    zp = constant_value(zero_point)
    if zp is None:
        return "zero point computed at run time: TensorRT needs a build-time constant (zero) zero point"
    if bool((zp.float() != 0).any()):
        return ("non-zero zero point (asymmetric quantization): TensorRT quantizes only symmetrically; "
                "use a symmetric qscheme (torch.per_tensor_symmetric / per_channel_symmetric)")
    return None


def check_scale(scale: Any) -> str | None:
    s = constant_value(scale)
    if s is None:
        return ("scale computed at run time (dynamic quantization): TensorRT's quantize/dequantize layers "
                "need build-time constant scales; calibrate a static scale instead")
    if not bool((s > 0).all()):
        return "scale has values <= 0: TensorRT needs strictly positive scales"
    return None


def check_activation_range(kind: str, quant_min: Any, quant_max: Any) -> str | None:
    """A quantize of a run-time tensor saturates to the full range of its type, nothing narrower."""
    if kind == INT4:
        return "quantizes a run-time tensor to INT4: TensorRT quantizes only weights (constants) to INT4"
    if kind == INT8 and (int(quant_min), int(quant_max)) != RANGES[INT8]:
        return (f"clamps to [{quant_min}, {quant_max}]: TensorRT's INT8 quantize saturates to [-128, 127]; "
                "quantize activations with quant_min=-128, quant_max=127")
    return None


@dataclass(frozen=True)
class Granularity:
    """How scales map onto a tensor: per tensor, per channel (``axis``) or per block (``block``)."""

    axis: int | None = None
    block: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        return "per-block" if self.block else "per-channel" if self.axis is not None else "per-tensor"


def _size(value: Any) -> Any:
    """An int, or the expression of a symbolic size (compared structurally: no guard is added)."""
    expr = value.node.expr if isinstance(value, torch.SymInt) else value
    if hasattr(expr, "free_symbols") and not expr.is_number:
        return expr
    return int(expr)


def from_block_size(shape: Sequence[Any], block_size: Sequence[Any]) -> Granularity | str:
    """torchao's ``block_size`` (elements per scale along each dim) as a TensorRT granularity, or why not.

    Sizes may be symbolic (a dynamic batch): a block spanning a whole dynamic dimension is the
    same size expression as the dimension.
    """
    shape, block = [_size(s) for s in shape], [_size(b) for b in block_size]
    if len(shape) != len(block):
        return f"block_size {block} does not match the rank of shape {shape}"
    split = [d for d, (n, b) in enumerate(zip(shape, block)) if b != n]
    if not split:
        return Granularity()
    if all(block[d] == 1 for d in split):
        if len(split) == 1:
            return Granularity(axis=split[0])
        return f"scales vary along dims {split}: TensorRT's per-channel scales follow one axis"
    return check_block(shape, block)


def check_block(shape: Sequence[Any], block: Sequence[Any]) -> Granularity | str:
    """Block quantization: one blocked dimension (last or second to last), in whole blocks.

    TensorRT-RTX 1.7 builds INT8 block dequantization for every group size that divides the
    dimension (measured 8 to 256, and 96).
    """
    shape, block = [_size(s) for s in shape], [_size(b) for b in block]
    rank = len(shape)
    blocked = [d for d in range(rank) if block[d] not in (1, shape[d])]
    if len(blocked) != 1 or blocked[0] < rank - 2:
        return (f"blocks {list(block)} of shape {list(shape)}: TensorRT blocks one dimension, "
                "the last or second to last")
    d = blocked[0]
    if not isinstance(shape[d], int) or not isinstance(block[d], int):
        return (f"blocks of {block[d]} along a dimension of dynamic size {shape[d]}: TensorRT needs "
                "whole blocks known when it builds")
    if shape[d] % block[d]:
        return f"group size {block[d]} does not divide the blocked dimension ({shape[d]}): TensorRT needs whole blocks"
    return Granularity(block=tuple(int(b) if b != shape[i] or i == d else 1 for i, b in enumerate(block)))
