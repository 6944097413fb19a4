"""The TensorRT-specific part of the runtime, behind one small interface.

:class:`EngineRunner` is everything the runtime asks of an engine: set input
shapes (getting output shapes back), bind tensors and enqueue on a stream, and
weight-streaming budgets. :class:`TRTEngineRunner` implements it with the
TensorRT Python API shared by full TensorRT and TensorRT-RTX
(``Runtime.deserialize_cuda_engine``, ``IExecutionContext.set_input_shape`` /
``set_tensor_address`` / ``get_tensor_shape`` / ``set_output_allocator`` /
``execute_async_v3``, ``IOutputAllocator.reallocate_output_async`` /
``notify_shape``, ``ICudaEngine.weight_streaming_budget_v2`` /
``streamable_weights_size`` / ``get_weight_streaming_automatic_budget``).

Its helpers have modules of their own: whether an engine can run here at all
(:mod:`trtforge.runtime.checks`, also used by ``load``) and the output allocator
for data-dependent output shapes (:mod:`trtforge.runtime.output_allocator`).
Everything else (input checks, CUDA graphs, pre-allocated outputs, device
switching, mode restoration) lives in :mod:`trtforge.runtime.module` and
:mod:`trtforge.runtime.state` and talks to an ``EngineRunner`` only, so it can
be tested with a runner made of torch ops.
"""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from ..errors import EngineDeserializationError, EngineExecutionError, WeightStreamingError
from . import trt_features
from .checks import check_device_supported, require_backend, require_cuda
from .metadata import EngineMetadata, _tensor_bytes_view, torch_dtype
from .output_allocator import output_allocator_class

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

__all__ = ["EngineRunner", "TRTEngineRunner", "require_backend", "require_cuda"]

Shape = tuple[int, ...]


class EngineRunner(abc.ABC):
    """One engine ready to run: the interface between the runtime's mode logic and TensorRT.

    A runner is created for one device and never moves. ``generation`` is bumped
    whenever its execution context is recreated (weight-streaming budget change):
    anything recorded against the old context (CUDA graphs) must be re-recorded.
    """

    device: torch.device
    generation: int = 0

    @abc.abstractmethod
    def prepare(self, inputs: Sequence[torch.Tensor]) -> list[Shape | None]:
        """Set the input shapes of ``inputs``; return each output's shape, or None
        where it is data-dependent (known only after execution, through the output allocator)."""

    @abc.abstractmethod
    def execute(
        self,
        inputs: Sequence[torch.Tensor],
        outputs: Sequence[torch.Tensor] | None,
        stream: Any,
    ) -> list[torch.Tensor]:
        """Bind ``inputs``/``outputs`` and enqueue one execution on ``stream``.

        ``outputs=None`` runs with an output allocator: the runner allocates the
        outputs (as torch tensors) once their shapes are known and returns them.
        :meth:`prepare` must have been called with tensors of the same shapes.
        """

    # weight streaming -------------------------------------------------------------------
    @property
    def streamable_weights_size(self) -> int:
        return 0

    @property
    def weight_streaming_budget(self) -> int:
        return 0

    def set_weight_streaming_budget(self, nbytes: int) -> int:
        raise WeightStreamingError("this engine was not built with weight streaming")

    def automatic_weight_streaming_budget(self) -> int:
        return self.streamable_weights_size

    # engine features ------------------------------------------------------------------------
    #: optimization profile chosen by trtforge.runtime.optimization_profile (None: by shapes)
    forced_profile: int | None = None

    def refit(self, weights: Any) -> None:
        """Replace the engine's refittable weights (``{refit name: host tensor}``)."""
        from ..errors import RefitError

        raise RefitError("this engine runner cannot refit weights")

    def serialize_without_weights(self) -> bytes:
        """The engine serialized without its refittable weights (``strip_weights=True``)."""
        from ..errors import RefitError

        raise RefitError("this engine runner cannot serialize a weight-stripped engine")


# --- TensorRT implementation -----------------------------------------------------------------

def deserialize_engine(trt: "ModuleType", data: Any, md: EngineMetadata) -> tuple[Any, Any, Any]:
    """``(runtime, engine, logger)`` or :class:`EngineDeserializationError` with TensorRT's own errors."""
    from ..backend.trt_logger import logger_for

    logger = logger_for(trt)  # the process's one TensorRT logger (-> logging "trtforge.tensorrt")
    mark = len(logger.errors)
    runtime = trt.Runtime(logger)
    if md.version_compatible:  # its lean runtime is host code inside the engine
        runtime.engine_host_code_allowed = True
    try:
        engine = runtime.deserialize_cuda_engine(data)
    except Exception as exc:  # the bindings raise on some failures, return None on others
        logger.errors.append(str(exc))
        engine = None
    if engine is None:
        detail = "; ".join(logger.errors[mark:][-3:]) or "no detail from TensorRT"
        from trtforge import backend

        installed = backend.version() if backend.available() else "?"
        raise EngineDeserializationError(
            f"TensorRT could not deserialize engine {md.name!r} (built with {md.backend} "
            f"{md.backend_version or '?'}; installed {md.backend} {installed}): {detail}. Engines only load "
            "on the TensorRT version and GPU family they were built for (unless built version- or "
            "hardware-compatible); recompile on this machine"
        )
    return runtime, engine, logger


class TRTEngineRunner(EngineRunner):
    """An :class:`EngineRunner` over a TensorRT ``ICudaEngine`` and one ``IExecutionContext``."""

    def __init__(self, serialized: torch.Tensor | bytes, md: EngineMetadata, device: torch.device) -> None:
        require_cuda(md)
        trt = require_backend(md)
        self.trt = trt
        self.md = md
        self.device = torch.device(device)
        self.generation = 0
        check_device_supported(md, self.device)
        data = _tensor_bytes_view(serialized) if isinstance(serialized, torch.Tensor) else serialized
        with torch.cuda.device(self.device):
            self.runtime, self.engine, self.logger = deserialize_engine(trt, data, md)
            self._check_io()
            if md.weight_streaming and self.engine.streamable_weights_size > 0:
                self.engine.weight_streaming_budget_v2 = self.engine.get_weight_streaming_automatic_budget()
            self.context = self._new_context()
        self._profile = 0
        self._dtypes = [torch_dtype(t.dtype) for t in md.outputs]
        self._shape_io = [bool(self.engine.is_shape_inference_io(t.name)) for t in md.inputs]
        self._host_shape_inputs: list[Any] = []
        self._last_key: tuple[Shape, ...] | None = None
        self._last_out: list[Shape | None] = []
        self._allocator: Any = None

    def _new_context(self) -> Any:
        mark = len(self.logger.errors)
        ctx, self._runtime_cache = trt_features.execution_context(self.engine, self.md)
        self._profile = 0
        if ctx is None:
            raise EngineDeserializationError(
                f"TensorRT could not create an execution context for engine {self.md.name!r} "
                f"(out of device memory?): {'; '.join(self.logger.errors[mark:][-3:])}"
            )
        return ctx

    def _check_io(self) -> None:
        trt, eng, md = self.trt, self.engine, self.md
        names = {eng.get_tensor_name(i): eng.get_tensor_mode(eng.get_tensor_name(i))
                 for i in range(eng.num_io_tensors)}
        want = {t.name: trt.TensorIOMode.INPUT for t in md.inputs}
        want.update({t.name: trt.TensorIOMode.OUTPUT for t in md.outputs})
        if names != want:
            raise EngineDeserializationError(
                f"engine {md.name!r} does not match its metadata: the engine has I/O tensors "
                f"{sorted(names)}, the metadata names inputs {md.input_names} and outputs {md.output_names}"
            )

    # EngineRunner -------------------------------------------------------------------------
    def prepare(self, inputs: Sequence[torch.Tensor]) -> list[Shape | None]:
        key = tuple(tuple(t.shape) for t in inputs)
        has_shape_inputs = any(self._shape_io)
        if key == self._last_key and not has_shape_inputs:
            return self._last_out
        ctx = self.context
        if self.md.num_profiles > 1 or self.forced_profile is not None:
            k = trt_features.select_profile(self.md, key, self.forced_profile)
            if k != self._profile:
                ctx.set_optimization_profile_async(k, torch.cuda.current_stream(self.device).cuda_stream)
                self._profile = k
        self._host_shape_inputs = []
        mark = len(self.logger.errors)
        for spec, t, is_shape in zip(self.md.inputs, inputs, self._shape_io):
            if is_shape:
                # shape tensors are read on the host at enqueue time; keep the copy alive
                host = t.detach().to("cpu", torch.int64).contiguous().numpy().copy()
                self._host_shape_inputs.append(host)
                ok = ctx.set_tensor_address(spec.name, host.ctypes.data)
            else:
                ok = ctx.set_input_shape(spec.name, tuple(t.shape))
            if not ok:
                raise EngineExecutionError(
                    f"TensorRT refused shape {tuple(t.shape)} for input {spec.name!r} of engine "
                    f"{self.md.name!r}: {'; '.join(self.logger.errors[mark:][-2:])}"
                )
        missing = ctx.infer_shapes()
        if missing:
            raise EngineExecutionError(
                f"engine {self.md.name!r}: TensorRT cannot infer shapes, insufficiently specified: {missing}"
            )
        out: list[Shape | None] = []
        for spec in self.md.outputs:
            shape = tuple(int(d) for d in ctx.get_tensor_shape(spec.name))
            out.append(None if any(d < 0 for d in shape) else shape)
        self._last_key, self._last_out = key, out
        return out

    def execute(self, inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor] | None,
                stream: Any) -> list[torch.Tensor]:
        ctx, md = self.context, self.md
        for spec, t, is_shape in zip(md.inputs, inputs, self._shape_io):
            if not is_shape:
                ctx.set_tensor_address(spec.name, t.data_ptr())
        if outputs is None:
            if self._allocator is None:
                self._allocator = output_allocator_class(self.trt)(self.device)
            for spec in md.outputs:
                if not ctx.set_output_allocator(spec.name, self._allocator):
                    raise EngineExecutionError(f"could not set an output allocator for {spec.name!r}")
        else:
            for spec, t in zip(md.outputs, outputs):
                # an output allocator left from an earlier call would take precedence: unset it
                if self._allocator is not None:
                    ctx.set_output_allocator(spec.name, None)
                ctx.set_tensor_address(spec.name, t.data_ptr())
        mark = len(self.logger.errors)
        if not ctx.execute_async_v3(int(stream.cuda_stream)):
            raise EngineExecutionError(
                f"TensorRT failed to enqueue engine {md.name!r}: {'; '.join(self.logger.errors[mark:][-3:])}"
            )
        if self._runtime_cache is not None:  # the kernels JIT-compiled by the first run
            trt_features.save_runtime_cache(self._runtime_cache, md.runtime_cache_path)
            self._runtime_cache = None
        if outputs is not None:
            return list(outputs)
        return [self._allocator.take(spec.name, dt) for spec, dt in zip(md.outputs, self._dtypes)]

    def refit(self, weights: Any) -> None:
        with torch.cuda.device(self.device):
            torch.cuda.current_stream(self.device).synchronize()
            trt_features.refit(self.trt, self.engine, self.logger, self.md, weights)
        self.generation += 1  # recorded CUDA graphs are re-recorded

    def serialize_without_weights(self) -> bytes:
        config = self.engine.create_serialization_config()
        config.set_flag(self.trt.SerializationFlag.EXCLUDE_WEIGHTS)
        return bytes(self.engine.serialize_with_config(config))

    # weight streaming ------------------------------------------------------------------------
    @property
    def streamable_weights_size(self) -> int:
        return int(self.engine.streamable_weights_size)

    @property
    def weight_streaming_budget(self) -> int:
        return int(self.engine.weight_streaming_budget_v2)

    def automatic_weight_streaming_budget(self) -> int:
        return int(self.engine.get_weight_streaming_automatic_budget())

    def set_weight_streaming_budget(self, nbytes: int) -> int:
        if self.streamable_weights_size <= 0:
            raise WeightStreamingError(
                f"engine {self.md.name!r} has no streamable weights (built without weight streaming)"
            )
        # The budget cannot change while an execution context exists: drop it, set, recreate.
        with torch.cuda.device(self.device):
            torch.cuda.current_stream(self.device).synchronize()
            del self.context
            self.engine.weight_streaming_budget_v2 = int(nbytes)
            self.context = self._new_context()
        self._last_key = None
        self.generation += 1
        return self.weight_streaming_budget


#: Builds the runner of a TRTEngineModule: ``factory(engine_tensor, metadata, device)``.
#: Replaceable for tests of the mode logic (see tests/runtime); production code never changes it.
RunnerFactory = Callable[[torch.Tensor, EngineMetadata, torch.device], EngineRunner]
_runner_factory: RunnerFactory = TRTEngineRunner
