"""The module that holds one TensorRT engine and runs it inside PyTorch."""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch

from . import engine_inputs, runner as _runner_mod, state
from ..errors import (
    ABIVersionError,
    CorruptedProgramError,
    EngineInputError,
    EngineNotBuiltError,
    IncompatibleModesError,
    RefitError,
)
from .metadata import ABI_VERSION, EngineMetadata, engine_digest, torch_dtype
from .engine_graph import EngineGraph
from .runner import EngineRunner

__all__ = ["TRTEngineModule"]


def _is_tracing(inputs: Sequence[Any]) -> bool:
    """True under torch.export / torch.compile / make_fx / fx tracing / fake-tensor propagation."""
    if torch.compiler.is_compiling():
        return True
    from torch._subclasses.fake_tensor import FakeTensor
    from torch._subclasses.functional_tensor import FunctionalTensor
    from torch.fx.experimental.proxy_tensor import get_proxy_mode

    for t in inputs:
        if isinstance(t, (FakeTensor, FunctionalTensor, torch.fx.Proxy)):
            return True

    return get_proxy_mode() is not None


def _full_device(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:<current>``, so that device comparisons mean what they say."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class TRTEngineModule(torch.nn.Module):
    """One engine plus its metadata. ``engine`` is None for networks compiled with build=False.

    Calling it checks the inputs against the metadata (count, dtype, device, shape
    within the optimization profile), runs the engine with ``execute_async_v3`` on
    PyTorch's current CUDA stream and returns torch tensors: one tensor for a
    single-output engine, a tuple otherwise. Under ``torch.export`` /
    ``torch.compile`` it is traced as one ``trtforge::execute_engine`` node whose
    serialized engine is this module's ``engine`` buffer (a uint8 tensor).
    """

    def __init__(self, engine: bytes | bytearray | memoryview | torch.Tensor | None,
                 metadata: EngineMetadata) -> None:
        super().__init__()
        if metadata.abi_version != ABI_VERSION:
            raise ABIVersionError(
                f"engine {metadata.name!r} has metadata of runtime ABI version {metadata.abi_version!r}; "
                f"this trtforge reads ABI version {ABI_VERSION} only"
            )
        self.metadata = metadata
        tensor: torch.Tensor | None
        if engine is None:
            tensor = None
        elif isinstance(engine, torch.Tensor):
            if engine.dtype != torch.uint8 or engine.dim() != 1:
                raise TypeError(f"engine tensor must be 1-D uint8, got {engine.dtype} {tuple(engine.shape)}")
            tensor = engine if engine.device.type == "cpu" else engine.cpu()
        else:
            data = bytearray(engine)
            if not data:
                raise ValueError(f"engine {metadata.name!r}: the serialized engine is empty")
            tensor = torch.frombuffer(data, dtype=torch.uint8)
        if tensor is not None:
            digest = engine_digest(tensor)  # once per engine tensor: trtforge.load hashes them all in parallel first
            if metadata.sha256 and metadata.sha256 != digest:
                raise CorruptedProgramError(
                    f"engine {metadata.name!r} is corrupted: its bytes have sha256 {digest[:16]}..., its "
                    f"metadata records {metadata.sha256[:16]}... (the file was damaged after saving)"
                )
            if metadata.engine_bytes and metadata.engine_bytes != tensor.numel():
                raise CorruptedProgramError(
                    f"engine {metadata.name!r} is {tensor.numel()} bytes, its metadata says {metadata.engine_bytes}"
                )
            metadata.sha256 = digest
            metadata.engine_bytes = int(tensor.numel())
        if not metadata.trtforge_version:
            from trtforge._version import __version__

            metadata.trtforge_version = __version__
        self.register_buffer("engine", tensor, persistent=True)
        self._metadata_json: str | None = None
        self._runner: EngineRunner | None = None
        self._device_override: torch.device | None = None
        self.pre_allocated_outputs_enabled = False
        self.output_allocator_enabled = False
        self._graph: EngineGraph | None = None
        self._pre_allocated: tuple[Any, list[torch.Tensor]] | None = None
        #: new weights (refit name -> tensor) to refit into the engine when its runner is created
        self._pending_weights: dict[str, torch.Tensor] | None = None
        #: the optimization profile trtforge.runtime.optimization_profile chose (None: by shapes)
        self.forced_profile: int | None = None
        self._out_dtypes = [torch_dtype(t.dtype) for t in metadata.outputs]
        self._in_dtypes = [torch_dtype(t.dtype) for t in metadata.inputs]

    # --- properties ---------------------------------------------------------------------------
    @property
    def serialized_engine(self) -> bytes | None:
        """The serialized engine as bytes (a copy), or None (build=False)."""
        return None if self.engine is None else bytes(self.engine.cpu().numpy().tobytes())

    @property
    def metadata_json(self) -> str:
        if self._metadata_json is None:
            self._metadata_json = self.metadata.to_json()
        return self._metadata_json

    @property
    def device(self) -> torch.device:
        """The CUDA device this engine runs on: the one it was moved to with ``.to()``/``.cuda()``,
        else ``cuda:<metadata.device>`` (the current device if that one does not exist)."""
        if self._device_override is not None:
            return self._device_override
        if self._runner is not None:
            return self._runner.device
        idx = self.metadata.device
        if torch.cuda.is_available() and idx >= torch.cuda.device_count():
            idx = torch.cuda.current_device()
        return torch.device("cuda", idx)

    def extra_repr(self) -> str:
        md = self.metadata
        ins = ", ".join(f"{t.name}:{t.dtype}{list(t.shape)}" for t in md.inputs)
        outs = ", ".join(f"{t.name}:{t.dtype}{list(t.shape)}" for t in md.outputs)
        size = "no engine (build=False)" if self.engine is None else f"{md.engine_bytes} bytes"
        return f"name={md.name!r}, backend={md.backend}, inputs=({ins}), outputs=({outs}), engine={size}"

    # --- moving between devices: the serialized bytes stay on the host ---------------------------
    def _apply(self, fn: Any, recurse: bool = True) -> "TRTEngineModule":
        eng = self._buffers.pop("engine", None)
        try:
            probe = fn(torch.empty(0, dtype=torch.uint8))
            if probe.device.type == "cuda":
                dev = probe.device if probe.device.index is not None else torch.device(
                    "cuda", torch.cuda.current_device())
                if self._runner is not None and self._runner.device != dev:
                    self._drop_runner()
                self._device_override = dev
            # .cpu() and dtype conversions leave the engine where it runs (engines only run on GPUs)
            super()._apply(fn, recurse)
        finally:
            self._buffers["engine"] = eng
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runner"] = None
        state["_graph"] = None
        state["_pre_allocated"] = None
        if self._pending_weights is not None:
            raise RefitError(
                f"engine {self.metadata.name!r} has new weights not yet refitted into it (that happens on a "
                "GPU, when it first runs): run it once before saving or pickling it"
            )
        return state

    # --- runner ---------------------------------------------------------------------------------
    def set_runner(self, runner: EngineRunner | None) -> None:
        """Use ``runner`` to run the engine (None: create the TensorRT runner on the next call)."""
        self._drop_runner()
        self._runner = runner

    def _drop_runner(self) -> None:
        self.reset_cudagraphs()
        self._pre_allocated = None
        self._runner = None

    def _runner_or_create(self) -> EngineRunner:
        if self._runner is None:
            if self.engine is None:
                raise self._not_built()
            if self.metadata.weights_stripped and self._pending_weights is None:
                raise RefitError(
                    f"engine {self.metadata.name!r} was saved without its weights (strip_weights=True or "
                    "strip_engine_weights=True): load it with trtforge.load(path, weights=model) or call "
                    "trtforge.refit_module_weights(program, model) first"
                )
            self._runner = _runner_mod._runner_factory(self.engine, self.metadata, self.device)
            self._runner.forced_profile = self.forced_profile
            if self._pending_weights is not None:
                self._apply_weights(self._runner)
        return self._runner

    # --- refit ------------------------------------------------------------------------------------
    def set_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Refit the engine with ``weights`` (refit name -> tensor, as computed by
        :func:`trtforge.refit.compute_engine_weights`): now if the engine is loaded on its GPU,
        else when it first runs (refitting needs the deserialized engine, so a GPU)."""
        self._pending_weights = dict(weights)
        if self._runner is not None:
            self._apply_weights(self._runner)

    def _apply_weights(self, runner: EngineRunner) -> None:
        weights, self._pending_weights = self._pending_weights, None
        runner.refit(weights)
        self.reset_cudagraphs()
        self.metadata.weights_stripped = False

    def _not_built(self) -> EngineNotBuiltError:
        return EngineNotBuiltError(
            f"engine {self.metadata.name!r} was compiled with build=False: it holds a checked "
            "TensorRT network but no engine; compile with build=True to run it"
        )

    # --- modes ----------------------------------------------------------------------------------
    def _set_flag(self, attr: str, value: bool) -> None:
        if value and attr == "output_allocator_enabled" and self.pre_allocated_outputs_enabled:
            state.check_modes([self.metadata.name], output_allocator="it is being enabled",
                              pre_allocated="they are on for this engine")
        if value and attr == "pre_allocated_outputs_enabled":
            state.check_modes([self.metadata.name], output_allocator=state.output_allocator_reason(self),
                              pre_allocated="they are being enabled")
        setattr(self, attr, bool(value))
        if attr == "pre_allocated_outputs_enabled" and not value:
            self._pre_allocated = None

    def set_pre_allocated_outputs(self, enable: bool) -> None:
        """Per-engine switch behind :func:`trtforge.runtime.enable_pre_allocated_outputs`."""
        self._set_flag("pre_allocated_outputs_enabled", enable)

    def set_output_allocator(self, enable: bool) -> None:
        """Per-engine switch behind :func:`trtforge.runtime.enable_output_allocator`."""
        self._set_flag("output_allocator_enabled", enable)

    def reset_cudagraphs(self) -> None:
        """Free this engine's recorded CUDA graph (it is re-recorded on the next call in graph mode)."""
        if self._graph is not None:
            try:
                self._graph.graph.reset()
            finally:
                self._graph = None

    # --- calling ----------------------------------------------------------------------------------
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.engine is None:
            raise self._not_built()
        if _is_tracing(inputs):
            outs = torch.ops.trtforge.execute_engine(list(inputs), self.engine, self.metadata_json)
        else:
            outs = self.run(inputs)
        return outs[0] if len(self.metadata.outputs) == 1 else tuple(outs)

    def check_inputs(self, inputs: Sequence[Any]) -> None:
        """Raise :class:`EngineInputError` unless ``inputs`` match the engine's count, dtypes and
        shapes (static dimensions equal, dynamic ones within the optimization profile)."""
        engine_inputs.check_inputs(self.metadata, self._in_dtypes, inputs)

    def run(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Check ``inputs``, run the engine, return the list of outputs (the eager path)."""
        if self.engine is None:
            raise self._not_built()
        self.check_inputs(inputs)
        runner = self._runner_or_create()
        device = _full_device(runner.device)
        placed = engine_inputs.place_inputs(self.metadata, inputs, device)
        if device.type == "cuda":
            current = torch.cuda.current_device()
            if current != device.index:
                if not state.get_multi_device_safe_mode():
                    raise EngineInputError(
                        f"engine {self.metadata.name!r} runs on {device}, but the current CUDA device is "
                        f"cuda:{current}; use `with torch.cuda.device({device.index}):` or turn on "
                        "trtforge.runtime.set_multi_device_safe_mode(True), which switches devices"
                    )
                with torch.cuda.device(device):
                    return self._run_on_device(runner, placed, device)
        return self._run_on_device(runner, placed, device)

    def _stream(self, device: torch.device) -> Any:
        if device.type == "cuda":
            return torch.cuda.current_stream(device)
        return None  # runners on other devices (tests) take no stream

    def _capturing(self, device: torch.device) -> bool:
        return device.type == "cuda" and torch.cuda.is_current_stream_capturing()

    def _run_on_device(self, runner: EngineRunner, inputs: list[torch.Tensor],
                       device: torch.device) -> list[torch.Tensor]:
        md = self.metadata
        subgraph = state.mode() == state.CudaGraphsMode.SUBGRAPH
        capturing = self._capturing(device)
        stream = self._stream(device)
        graphs = "CUDA graph mode is on" if subgraph else ("a CUDA graph is being recorded" if capturing else None)
        pre = "they are on for this engine" if self.pre_allocated_outputs_enabled else None
        why = state.output_allocator_reason(self)
        if why:
            state.check_modes([md.name], output_allocator=why, cudagraphs=graphs, pre_allocated=pre)
            runner.prepare(inputs)
            return runner.execute(inputs, None, stream)
        if subgraph and not capturing:
            return self._run_cudagraph(runner, inputs, device, stream)
        out_shapes = runner.prepare(inputs)
        if any(s is None for s in out_shapes):
            state.check_modes([md.name], output_allocator="it produced data-dependent output shapes",
                              cudagraphs=graphs, pre_allocated=pre)
            warnings.warn(
                f"engine {md.name!r} has data-dependent output shapes but its metadata does not say "
                "requires_output_allocator; running it with an output allocator", stacklevel=3,
            )
            return runner.execute(inputs, None, stream)
        outputs = self._output_buffers(out_shapes, device)
        return runner.execute(inputs, outputs, stream)

    def _output_buffers(self, shapes: list[Any], device: torch.device) -> list[torch.Tensor]:
        key = (tuple(shapes), device)
        if self.pre_allocated_outputs_enabled:
            if self._pre_allocated is not None and self._pre_allocated[0] == key:
                return self._pre_allocated[1]
        outs = [torch.empty(s, dtype=dt, device=device) for s, dt in zip(shapes, self._out_dtypes)]
        if self.pre_allocated_outputs_enabled:
            self._pre_allocated = (key, outs)
        return outs

    def _run_cudagraph(self, runner: EngineRunner, inputs: list[torch.Tensor], device: torch.device,
                       stream: Any) -> list[torch.Tensor]:
        if device.type != "cuda":
            raise IncompatibleModesError(f"engine {self.metadata.name!r}: CUDA graphs need a CUDA device")
        key = (tuple(tuple(t.shape) for t in inputs), device, runner.generation)
        if self._graph is None or self._graph.key != key:
            self.reset_cudagraphs()
            self._graph = EngineGraph.record(self.metadata.name, runner, inputs, self._out_dtypes, device, stream, key)
        return self._graph.replay(inputs, keep_outputs=self.pre_allocated_outputs_enabled)
