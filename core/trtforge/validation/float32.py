"""The float32 reference of a reduced-precision graph (what validation at float16/bfloat16
compares with), and the recording run that also gives PyTorch's own values.

The float32 reference is the same lowered graph executed with every reduced-precision value
computed in float32 and the model's float32 weights: it is the float32 model, node for node,
so an error can be traced to the node where it appears.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch.fx import GraphModule, Node


def record(gm: GraphModule, inputs: Sequence[Any], names: Iterable[str] | None = None, *,
           float32_of: torch.dtype | None = None,
           fp32_weights: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Run ``gm`` on ``inputs`` and keep the value of each node in ``names`` (all if None).

    ``float32_of=torch.float16`` runs the float32 reference instead: every float16 value and
    ``dtype=torch.float16`` argument becomes float32, and weights are taken from
    ``fp32_weights`` (graph attribute name -> the model's float32 tensor) where given.
    """
    wanted = None if names is None else set(names)
    values: dict[str, Any] = {}
    lift = _Lift(float32_of, fp32_weights or {}) if float32_of is not None else None

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Node) -> Any:
            if lift is None:
                out = super().run_node(n)
            elif n.op == "get_attr":
                out = lift.weight(n.target, super().run_node(n))
            elif n.op == "call_function":
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                out = n.target(*lift(args), **lift(kwargs))  # type: ignore[operator]
            else:
                out = super().run_node(n)
            if wanted is None or n.name in wanted:
                values[n.name] = out
            return out

    with torch.no_grad():
        Recorder(gm).run(*inputs)
    return values


class _Lift:
    """Turns reduced-precision values and dtype arguments into float32 ones."""

    def __init__(self, precision: torch.dtype, weights: Mapping[str, torch.Tensor]) -> None:
        self.precision, self.weights = precision, weights

    def weight(self, target: Any, current: Any) -> Any:
        original = self.weights.get(str(target))
        if isinstance(current, torch.Tensor) and isinstance(original, torch.Tensor) and \
                original.shape == current.shape and original.is_floating_point():
            return original.detach().to(torch.float32)
        return self(current)

    def __call__(self, value: Any) -> Any:
        if value is self.precision:
            return torch.float32
        if isinstance(value, torch.Tensor) and value.dtype == self.precision:
            return value.to(torch.float32)
        if isinstance(value, (list, tuple)):
            return type(value)(self(v) for v in value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


def fp32_weights(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's floating weights by the attribute names the exported graph gives them
    (``prefix`` is the path under which the precision wrapper holds the model)."""
    lead = f"{prefix}." if prefix else ""
    out = {}
    for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]:
        if t.is_floating_point():
            out[lead + name] = t
    return out
