# file: trtforge_example_pack/converters.py
"""The converter: example::scaled_softsign from TensorRT unary and elementwise layers."""
from typing import Any

import torch

import trtforge
from trtforge.conversion import blocks
from trtforge.conversion.args import argument, dtype_of, node_argument

from . import ops  # noqa: F401  (defines torch.ops.example.scaled_softsign)

#: TensorRT has no float64; the validator sends other dtypes to PyTorch, with a reason.
FLOAT_TYPES = (torch.float32, torch.float16, torch.bfloat16)


def float_input(node: torch.fx.Node, settings: trtforge.CompileSettings) -> Any:
    """Capability validator: refuse inputs TensorRT cannot compute in."""
    dtype = dtype_of(node_argument(node, "x"))  # the dtype PyTorch recorded for the argument named x
    if dtype not in FLOAT_TYPES:
        return trtforge.Refusal(f"input dtype is {dtype}; TensorRT computes it in float32, float16 or bfloat16")
    return True


@trtforge.converter(
    torch.ops.example.scaled_softsign.default,
    supports_dynamic_shapes=True,  # only layers that follow their input's shape: no shape arithmetic
    capability_validator=float_input,
)
def scaled_softsign(ctx, target, args, kwargs, name):
    x = argument(target, args, kwargs, "x")
    scale = argument(target, args, kwargs, "scale")  # positional, keyword, or the schema's default 1.0
    trt = ctx.trt
    magnitude = blocks.unary(ctx, trt.UnaryOperation.ABS, x)
    denominator = blocks.elementwise(ctx, trt.ElementWiseOperation.SUM, magnitude, 1.0)
    softsign = blocks.elementwise(ctx, trt.ElementWiseOperation.DIV, x, denominator)
    return blocks.elementwise(ctx, trt.ElementWiseOperation.PROD, softsign, scale)
