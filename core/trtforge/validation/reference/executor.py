"""Walk a TensorRT ``INetworkDefinition`` and compute every tensor with PyTorch on CPU.

No engine can execute on the project's machines (see ``docs/reference-executor.md``),
so converter tests check numbers by executing the *network* instead: every layer
is re-implemented with torch ops following TensorRT's documented semantics.

The walk also checks each computed tensor against the shape TensorRT inferred for
it (static dimensions only): a mismatch is reported with the layer's name, which
catches both reference bugs and converters that build something unexpected.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from ...errors import ReferenceExecutionError, UnsupportedLayerError
from ._common import _Failed

__all__ = [
    "ReferenceExecutionError",
    "UnsupportedLayerError",
    "LayerCtx",
    "run_network",
    "supported_layer_types",
    "torch_dtype",
    "trt_dtype",
]


# ---------------------------------------------------------------------------------------
# dtypes
_DTYPE_NAMES = {
    "FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16,
    "INT32": torch.int32, "INT64": torch.int64, "INT8": torch.int8,
    "UINT8": torch.uint8, "BOOL": torch.bool,
    # FP8 is E4M3; INT4 values are held in int8 tensors (torch has no 4-bit dtype)
    "FP8": torch.float8_e4m3fn, "INT4": torch.int8,
}


def torch_dtype(dt: Any) -> torch.dtype:
    """torch dtype for a TensorRT ``DataType`` (raises for FP4/E8M0; INT4 is held as int8)."""
    name = getattr(dt, "name", str(dt))
    try:
        return _DTYPE_NAMES[name]
    except KeyError:
        raise UnsupportedLayerError(f"the reference executor has no torch dtype for TensorRT {dt}") from None


def trt_dtype(dtype: torch.dtype) -> Any:
    """TensorRT ``DataType`` for a torch dtype."""
    from trtforge.backend import trt

    for name, tdt in _DTYPE_NAMES.items():
        if tdt == dtype and name != "INT4":
            return getattr(trt.DataType, name)
    raise TypeError(f"TensorRT has no data type for {dtype}")


_LOW_FLOATS = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------------------
class LayerCtx:
    """What a layer implementation may ask about the layer being executed."""

    def __init__(self, trt: Any, layer: Any, type_name: str, state: dict) -> None:
        self.trt = trt
        self.layer = layer
        self.type_name = type_name
        #: per-run scratch space shared by all layers (e.g. if-conditional conditions)
        self.state = state

    def out_dtype(self, i: int = 0) -> torch.dtype:
        return torch_dtype(self.layer.get_output(i).dtype)

    def in_dtype(self, i: int) -> torch.dtype:
        return torch_dtype(self.layer.get_input(i).dtype)

    def in_shape(self, i: int) -> tuple[int, ...]:
        return tuple(self.layer.get_input(i).shape)

    def fail(self, msg: str) -> ReferenceExecutionError:
        return ReferenceExecutionError(f"layer {self.layer.name!r} ({self.type_name}): {msg}")

    def unsupported(self, msg: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"layer {self.layer.name!r} ({self.type_name}): {msg}")


#: A layer implementation: (ctx, inputs) -> outputs. ``inputs[i]`` is None for an
#: absent optional input; float16/bfloat16 inputs arrive as float32.
LayerFn = Callable[[LayerCtx, list], list]

_TABLE: dict[str, tuple[str, LayerFn]] | None = None


def _table() -> dict[str, tuple[str, LayerFn]]:
    """LayerType name -> (concrete layer class name, implementation)."""
    global _TABLE
    if _TABLE is None:
        from . import layers_math, layers_nn, layers_quant, layers_shape, layers_special

        table: dict[str, tuple[str, LayerFn]] = {}
        for mod in (layers_math, layers_shape, layers_nn, layers_special, layers_quant):
            table.update(mod.LAYERS)
        _TABLE = table
    return _TABLE


def supported_layer_types() -> list[str]:
    """Names of the ``trt.LayerType`` members the reference executor implements."""
    return sorted(_table())


# ---------------------------------------------------------------------------------------
def _validate_inputs(network: Any, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    expected = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        expected[t.name] = t
    missing = sorted(set(expected) - set(inputs))
    extra = sorted(set(inputs) - set(expected))
    if missing or extra:
        raise ReferenceExecutionError(
            f"network inputs are {sorted(expected)}; missing {missing}, unexpected {extra}"
        )
    out = {}
    for name, t in expected.items():
        value = inputs[name]
        if not isinstance(value, torch.Tensor):
            raise ReferenceExecutionError(f"input {name!r} must be a torch.Tensor, got {type(value).__name__}")
        want = torch_dtype(t.dtype)
        if value.dtype != want:
            raise ReferenceExecutionError(
                f"input {name!r} has dtype {value.dtype}, the network declares {t.dtype} ({want})"
            )
        decl = tuple(t.shape)
        if value.dim() != len(decl) or any(d >= 0 and d != s for d, s in zip(decl, value.shape)):
            raise ReferenceExecutionError(
                f"input {name!r} has shape {tuple(value.shape)}, the network declares {decl} (-1 = any)"
            )
        out[name] = value.detach().to("cpu")
    return out


def _check_output(ctx: LayerCtx, i: int, value: torch.Tensor) -> torch.Tensor:
    tensor = ctx.layer.get_output(i)
    want = torch_dtype(tensor.dtype)
    if value.dtype != want:
        value = value.to(want)  # rounds float32 results to float16/bfloat16 at the layer output
    try:
        decl = tuple(tensor.shape)
    except Exception:  # TensorRT could not infer it: nothing to compare with
        return value
    if value.dim() != len(decl) or any(d >= 0 and d != s for d, s in zip(decl, value.shape)):
        raise ctx.fail(
            f"output {i} ({tensor.name!r}) computed with shape {tuple(value.shape)} but TensorRT "
            f"infers {decl} (-1 = dynamic)"
        )
    return value


#: layers that receive _Failed inputs themselves instead of propagating them
_SEES_FAILED = {"CONDITIONAL_OUTPUT"}


def _layer_type(trt: Any, layer: Any) -> str:
    # Read LayerType through the base class: concrete classes shadow ``type``
    # (IActivationLayer.type is the ActivationType, IPoolingLayer.type the PoolingType).
    return trt.ILayer.type.fget(layer).name


def _run_layer(trt: Any, layer: Any, env: dict[str, Any], state: dict, lazy: bool) -> None:
    type_name = _layer_type(trt, layer)
    entry = _table().get(type_name)
    if entry is None:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} has type {type_name}, which the reference executor does not implement"
        )
    cls_name, fn = entry
    # The bindings hand out one wrapper per layer while it lives, so a caller may hold
    # this very object: cast it for the implementation, then restore its class.
    base_cls = layer.__class__
    layer.__class__ = getattr(trt, cls_name)
    try:
        _run_cast_layer(trt, layer, fn, type_name, env, state, lazy)
    finally:
        layer.__class__ = base_cls


def _run_cast_layer(trt: Any, layer: Any, fn: LayerFn, type_name: str, env: dict[str, Any],
                    state: dict, lazy: bool) -> None:
    ctx = LayerCtx(trt, layer, type_name, state)
    args: list = []
    for j in range(layer.num_inputs):
        t = layer.get_input(j)
        if t is None:
            args.append(None)
            continue
        v = env[t.name]
        if isinstance(v, _Failed) and type_name not in _SEES_FAILED:
            for i in range(layer.num_outputs):
                env[layer.get_output(i).name] = v
            return
        args.append(v.float() if isinstance(v, torch.Tensor) and v.dtype in _LOW_FLOATS else v)
    try:
        try:
            results = fn(ctx, args)
        except ReferenceExecutionError:
            raise
        except NotImplementedError as exc:
            raise ctx.unsupported(str(exc)) from exc
        except Exception as exc:  # a torch error inside a layer: say which layer
            raise ctx.fail(f"{type(exc).__name__}: {exc}") from exc
        if len(results) != layer.num_outputs:
            raise ctx.fail(f"implementation returned {len(results)} outputs, layer has {layer.num_outputs}")
        checked = [_check_output(ctx, i, value) for i, value in enumerate(results)]
    except ReferenceExecutionError as exc:
        if not lazy or layer.num_outputs == 0 or isinstance(exc, UnsupportedLayerError):
            raise
        checked = [_Failed(exc)] * layer.num_outputs
    for i, value in enumerate(checked):
        env[layer.get_output(i).name] = value


def run_network(
    network: Any,
    inputs: dict[str, torch.Tensor],
    *,
    outputs: Sequence[str] | None = None,
    keep_intermediates: bool = False,
    constants: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Execute ``network`` on CPU with torch and return tensors by name.

    ``inputs`` maps every network input name to a CPU tensor of the declared dtype and
    a shape that fits the declared one. By default the network outputs are returned;
    ``outputs`` names other tensors to return instead (any tensor of the network), and
    ``keep_intermediates=True`` returns every tensor (inputs included), so a caller can
    find the first layer where two executions diverge. ``constants`` gives constant layers'
    values by layer name where the bindings cannot hand them out (bfloat16 weights).
    """
    from trtforge.backend import trt

    env: dict[str, Any] = dict(_validate_inputs(network, inputs))
    pending = [network.get_layer(i) for i in range(network.num_layers)]
    lazy = any(_layer_type(trt, layer) == "CONDITION" for layer in pending)
    state: dict = {"constants": dict(constants or {})}
    # Layers come in topological order unless set_input rewired one; defer those.
    while pending:
        deferred = []
        for layer in pending:
            ready = all(
                layer.get_input(j) is None or layer.get_input(j).name in env for j in range(layer.num_inputs)
            )
            if ready:
                _run_layer(trt, layer, env, state, lazy)
            else:
                deferred.append(layer)
        if len(deferred) == len(pending):
            names = [lay.name for lay in deferred[:5]]
            raise ReferenceExecutionError(f"layers {names} wait on tensors no layer produces (a cycle or a loop)")
        pending = deferred

    if outputs is None:
        outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    unknown = [n for n in outputs if n not in env]
    if unknown:
        raise ReferenceExecutionError(f"no tensor named {unknown} in the network")
    for n in outputs:
        if isinstance(env[n], _Failed):
            raise env[n].error
    if keep_intermediates:
        return {n: v for n, v in env.items() if not isinstance(v, _Failed)}
    return {n: env[n] for n in outputs}
