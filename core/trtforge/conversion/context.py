"""The conversion context: what a converter gets as ``ctx``.

A converter is ``fn(ctx, target, args, kwargs, name)``. ``args``/``kwargs`` are
the node's arguments with every graph value replaced by what stands for it in
the network: a TensorRT ``ITensor`` for tensors computed in the network, a
``torch.Tensor`` for weights and buffers, Python values for constants. The
context owns the network and its state (names, weights kept alive, the node being converted)
and turns values into tensors; every operation on tensors (casts, shapes, broadcasting and the
rest) is a building block in :mod:`trtforge.conversion.blocks`: one way to do each thing.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend as _backend
from ..errors import ConversionError
from ..settings import CompileSettings
from . import blocks, dtypes


class ConversionContext:
    """State of one network being built from one partition."""

    def __init__(self, network: Any, settings: CompileSettings | None = None,
                 backend: _backend.Backend | None = None) -> None:
        self.net = network
        self.settings = settings or CompileSettings()
        #: the compile's backend; ``trt`` is its module (layers and enums come from it)
        self.backend = backend or _backend.resolve()
        self.trt = self.backend.module
        #: the fx node being converted (None outside a converter call)
        self.current_node: torch.fx.Node | None = None
        #: weights handed to TensorRT by pointer must outlive the build
        self._keepalive: list[torch.Tensor] = []
        #: bfloat16 constants by layer name: the bindings cannot hand their data back to the
        #: reference executor (validation passes these instead)
        self.bf16_constants: dict[str, torch.Tensor] = {}
        #: bfloat16 weights handed over since the last layer was named (a layer's second and later
        #: weights, e.g. a convolution's bias, are kept as ``NAME#1``, ``NAME#2``)
        self._pending_bf16: list[torch.Tensor] = []
        self._layer_count = 0
        #: refittable compiles: the tracker of where weights came from (trtforge.refit.tracker)
        self.tracker: Any = None
        #: weights handed to TensorRT while tracking: (trt.Weights, tensor, node name)
        self._handed: list[tuple[Any, torch.Tensor, str]] = []

    # -- naming ---------------------------------------------------------------
    def name(self, layer: Any, suffix: str = "") -> Any:
        """Name ``layer`` after the current node (``node/suffix``); returns the layer."""
        base = self.current_node.name if self.current_node is not None else "trtforge"
        self._layer_count += 1
        layer.name = f"{base}/{suffix or layer.type.name.lower()}_{self._layer_count}"
        for i, t in enumerate(self._pending_bf16):
            self.bf16_constants[layer.name if i == 0 else f"{layer.name}#{i}"] = t
        self._pending_bf16 = []
        return layer

    def out(self, layer: Any, suffix: str = "", index: int = 0) -> Any:
        """Name ``layer`` and return its output ``index``: the common converter tail."""
        return self.name(layer, suffix).get_output(index)

    # -- values ---------------------------------------------------------------
    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, self.trt.ITensor)

    def constant(self, value: Any, dtype: torch.dtype | None = None) -> Any:
        """A constant layer holding ``value`` (torch.Tensor, number, bool, or nested list).

        Tensors are passed to TensorRT by pointer, without a copy when already
        contiguous and of the right dtype; the context keeps them alive.
        """
        if isinstance(value, torch.Tensor):
            t = value.detach()
        else:
            t = torch.tensor(value)
            if dtype is None and t.dtype == torch.float64:
                t = t.to(torch.float32)
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        if t.dtype == torch.float64:
            t = t.to(torch.float32)
        t = t.cpu().contiguous()
        self._keepalive.append(t)
        shape = tuple(t.shape)
        weights = self._trt_weights(t)
        return self.out(self.net.add_constant(shape, weights), "const")

    def to_trt(self, value: Any, dtype: torch.dtype | None = None) -> Any:
        """``value`` as an ITensor: tensors pass through (cast if ``dtype`` given), others become constants."""
        if self.is_tensor(value):
            return blocks.cast(self, value, dtype) if dtype is not None else value
        return self.constant(value, dtype)

    def torch_dtype(self, tensor: Any) -> torch.dtype:
        return dtypes.to_torch(tensor.dtype)

    def meta(self, arg: Any = None) -> Any:
        """The FakeTensor (shape, dtype) PyTorch recorded for the current node (or one of its inputs)."""
        node = self.current_node if arg is None else arg
        return node.meta.get("val") if isinstance(node, torch.fx.Node) else None

    def output_dtype(self, index: int | None = None) -> torch.dtype | None:
        """dtype PyTorch gives the current node's output (``index`` for tuple outputs)."""
        val = self.meta()
        if index is not None and isinstance(val, (list, tuple)):
            val = val[index]
        return getattr(val, "dtype", None)

    def keep(self, tensor: torch.Tensor) -> torch.Tensor:
        """Keep ``tensor`` alive until the engine is built (for weights passed by pointer)."""
        self._keepalive.append(tensor)
        return tensor

    def weights(self, tensor: torch.Tensor, dtype: torch.dtype | None = None) -> Any:
        """``trt.Weights`` for ``tensor`` (kept alive by the context), for layers that take weights."""
        t = tensor.detach()
        if dtype is not None:
            t = t.to(dtype)
        t = self.keep(t.cpu().contiguous())
        return self._trt_weights(t)

    def _trt_weights(self, t: torch.Tensor) -> Any:
        """``trt.Weights`` over the kept-alive ``t``; remembered for naming when refit is tracked."""
        if t.numel() == 0:
            return self.trt.Weights(dtypes.to_trt(t.dtype, self.trt))
        w = self.trt.Weights(dtypes.to_trt(t.dtype, self.trt), t.data_ptr(), t.numel())
        if t.dtype == torch.bfloat16:
            self._pending_bf16.append(t)  # recorded under the layer's name (see name())
        if self.tracker is not None:
            node = self.current_node.name if self.current_node is not None else "trtforge"
            self._handed.append((w, t, node))
        return w

    def fail(self, message: str) -> "ConversionError":
        """An error naming the current node, for converters to raise."""
        node = self.current_node
        where = f"node {node.name} ({node.target})" if node is not None else "conversion"
        return ConversionError(f"{where}: {message}")

    # -- deprecated (API 1.0): one way to do each thing, in blocks ----------------------------
    def cast(self, tensor: Any, dtype: torch.dtype) -> Any:
        """Deprecated: use ``blocks.cast(ctx, tensor, dtype)``."""
        _deprecated("ctx.cast(t, dtype)", "blocks.cast(ctx, t, dtype)")
        return blocks.cast(self, tensor, dtype)

    def shape_of(self, tensor: Any) -> Any:
        """Deprecated: use ``blocks.shape_of(ctx, tensor)``."""
        _deprecated("ctx.shape_of(t)", "blocks.shape_of(ctx, t)")
        return blocks.shape_of(self, tensor)

    def broadcast(self, *tensors: Any) -> list[Any]:
        """Deprecated: use ``blocks.same_rank(ctx, *tensors)``."""
        _deprecated("ctx.broadcast(*ts)", "blocks.same_rank(ctx, *ts)")
        return blocks.same_rank(self, *tensors)


def _deprecated(old: str, new: str) -> None:
    # stacklevel 3: the warning names the converter's own file and line, not this module
    warnings.warn(f"{old} is deprecated and will be removed in trtforge core API 2.0; use {new} "
                  "(from trtforge.conversion import blocks)", DeprecationWarning, stacklevel=3)
