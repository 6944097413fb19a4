"""The error a quantized network may have against PyTorch's fake-quant model: rounding flips.

A quantizer of a run-time tensor rounds ``x / scale`` to a code. TensorRT divides (and the
reference executor with it, bit-exactly); PyTorch's ``quantize_per_tensor`` multiplies by
``1 / scale``, and the float values reaching the quantizer may differ in their last bits
(another accumulation order). Where a value lies on a rounding boundary, the two codes then
differ by one step: a *flip*. A flip perturbs what follows, and later quantizers flip in turn,
so flips cascade through a deep network (measured on an INT8 resnet18: none at the first
quantizers, 0.01% of the codes at the fifth, 22% at the last convolution's input, with codes
off by up to 3 steps). So flips are measured, not guessed: every activation quantizer's codes
are compared with PyTorch's, and their relative difference ``||codes - codes_torch|| /
||codes_torch||`` is how much the flips perturb that quantized tensor. The most perturbed
one carries the accumulated effect of the flips before it; through well-conditioned layers
the outputs carry about as much, and the tolerance rule
(:func:`~trtforge.validation.tolerance.tolerance`) accepts that much.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch


def activation_quantizers(network: Any) -> list[str]:
    """Output names of the QUANTIZE layers that quantize run-time tensors (not weights)."""
    from ..backend import trt

    constants, names = set(), []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        kind = trt.ILayer.type.fget(layer).name
        if kind == "CONSTANT":
            constants.add(layer.get_output(0).name)
        elif kind == "QUANTIZE" and layer.get_input(0).name not in constants:
            names.append(layer.get_output(0).name)
    return names


def flip_error(net: Any, sub: Any, inputs: Sequence[torch.Tensor], quantizers: Sequence[str],
               got: dict[str, torch.Tensor]) -> float:
    """The largest relative difference of an activation quantizer's codes from PyTorch's (0: no flip).

    ``got`` holds the reference executor's codes by tensor name; PyTorch's come from running
    ``sub`` (the partition) on ``inputs``, keeping only the quantizers' values.
    """
    from .float32 import record
    from .validate import errors

    wanted = set(quantizers)
    pairs = [(node, t.name) for node, outs in net.node_tensors.items() for t in outs if t.name in wanted]
    theirs = record(sub, inputs, names=[node for node, _ in pairs])
    worst = 0.0
    for node, name in pairs:
        mine, ref = got[name], theirs.get(node)
        if not isinstance(ref, torch.Tensor) or ref.shape != mine.shape or not mine.numel():
            continue
        worst = max(worst, errors(mine.float(), ref.float())[1])
    return worst
