"""How far a network's output may be from its reference: the one place for the rule.

At float32 the reference is PyTorch's partition and the tolerance is fixed (``TOLERANCE``).
At float16 or bfloat16 the reference is the *float32* model (:mod:`.float32`), not PyTorch
run at the reduced precision, and the tolerance follows from what PyTorch itself achieves at
that precision on the same inputs (``e_torch``, its relative error against the float32
reference at the same output):

    tolerance = clamp(SCALE * e_torch, TOLERANCE[precision], CEILING[precision])

The floor keeps well-conditioned outputs from demanding more than the format holds; the scale
leaves room for TensorRT rounding and accumulating in another order than PyTorch; the ceiling
refuses outputs that are wrong whoever computes them (an overflow's ``inf`` meets the ceiling).

A network that quantizes run-time tensors (activations) may differ from PyTorch's fake-quant
model by rounding flips (:mod:`.quantized`): the tolerance is at least ``e_flips``, the
measured perturbation of the most perturbed quantized tensor.
"""
from __future__ import annotations

import torch

#: rel_err above which validation fails, by precision (at float16/bfloat16: the floor)
TOLERANCE = {torch.float32: 1e-3, torch.float16: 2e-2, torch.bfloat16: 6e-2}
#: how much more error than PyTorch's own at the reduced precision TensorRT may have
SCALE = 4.0
#: the most tolerance at each reduced precision: an output this far from float32 is not the model's
CEILING = {torch.float16: 1e-1, torch.bfloat16: 2.5e-1}


def tolerance(precision: torch.dtype, torch_err: float = 0.0, rtol: float | None = None,
              flip_err: float = 0.0) -> float:
    """The relative error accepted for an output PyTorch computes with ``torch_err`` at ``precision``,
    in a network whose quantizers' rounding flips perturb a quantized tensor by up to ``flip_err``.

    ``rtol`` (the ``validate_rtol`` setting) overrides the rule.
    """
    if rtol is not None:
        return rtol
    return max(flip_err, _float_tolerance(precision, torch_err))


def _float_tolerance(precision: torch.dtype, torch_err: float) -> float:
    if precision not in CEILING:
        return TOLERANCE.get(precision, TOLERANCE[torch.float32])
    scaled = SCALE * torch_err if torch_err == torch_err else float("inf")  # NaN: as bad as it gets
    return min(CEILING[precision], max(TOLERANCE[precision], scaled))
