"""The only place that imports TensorRT.

trtforge targets two backends that share one Python API: full TensorRT
(``import tensorrt``, the production backend for data-centre GPUs) and
TensorRT-RTX (``import tensorrt_rtx``, which can also build engines on a
machine with no GPU). Everything backend-specific lives here: which module
is in use, its version, and the capability table that says which layers a
backend can build.

The module is imported lazily, on first use of :data:`trt`, so that
``import trtforge`` stays cheap and works with no TensorRT installed.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import BackendUnavailable

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "Capabilities",
    "LayerLimits",
    "capabilities",
    "feature_refusals",
    "available",
    "load",
    "name",
    "resolve",
    "version",
    "trt",
]

#: backend name -> Python module that provides it
BACKENDS: dict[str, str] = {"tensorrt": "tensorrt", "tensorrt_rtx": "tensorrt_rtx"}
_INSTALL_HINT = {
    "tensorrt": "pip install 'trtforge[tensorrt]'",
    "tensorrt_rtx": "pip install 'trtforge[rtx]'",
}


@dataclass(frozen=True)
class LayerLimits:
    """Limits a backend's layers enforce, as named values: converters and their validators read
    them here (``trtforge.conversion.bounds.layer_limits``) instead of keeping their own copies.

    A converter that exceeds one fails at build time (or worse, at run time); a validator that
    compares the profile's bound (``trtforge.conversion.bounds``) with a limit refuses in time.
    """

    #: the most dimensions a tensor can have (``Dims.MAX_DIMS``; measured 8 on TensorRT-RTX 1.7)
    max_rank: int = 8
    #: the most elements a tensor of most layers may hold (the operator docs' "volume limits")
    max_volume: int = 2**31 - 1
    #: TopK: the largest K (``ITopKLayer.setK``: "only values up to 3840 are supported")
    topk_max_k: int = 3840
    #: TopK: the reduced axis must be one of the last this many dimensions (operator docs)
    topk_axis_from_end: int = 4
    #: NMS: the most boxes per batch item the layer considers (``setTopKBoxLimit``: <= 5000)
    nms_max_boxes: int = 5000
    #: layer type name -> the smallest input rank it accepts. TopK on a rank-1 input fails with
    #: "at least 2 dimensions are required" (measured on TensorRT-RTX 1.7; full TensorRT is given
    #: the same rule, which costs a converter one shuffle where it is not needed)
    min_input_rank: dict[str, int] = field(default_factory=lambda: {"TOPK": 2})

    def input_rank(self, layer: str, rank: int) -> int:
        """The rank a ``rank``-dimensional input of ``layer`` is lifted to (leading size-1
        dimensions): at least ``min_input_rank[layer]``, and at least 1."""
        return max(rank, 1, self.min_input_rank.get(layer, 0))

    def rank_refusal(self, layer: str, rank: int) -> str | None:
        """Why a ``rank``-dimensional input cannot feed a ``layer`` layer (None: it can)."""
        lowest = self.min_input_rank.get(layer, 0)
        if rank < lowest:
            return f"TensorRT's {layer} layer needs an input of at least {lowest} dimensions, not {rank}"
        if rank > self.max_rank:
            return f"TensorRT tensors have at most {self.max_rank} dimensions, not {rank}"
        return None


@dataclass(frozen=True)
class Capabilities:
    """What one backend can build. Layer names are TensorRT ``LayerType`` names."""

    backend: str
    unsupported_layers: frozenset[str] = field(default_factory=frozenset)
    #: why each unsupported layer is missing, for error messages
    notes: dict[str, str] = field(default_factory=dict)
    #: True if engines can be built with no GPU present (AOT on CPU)
    builds_without_gpu: bool = False
    #: compute capabilities (major*10+minor) the runtime refuses, if known
    refused_compute_capabilities: frozenset[int] = field(default_factory=frozenset)
    #: engine-feature settings (``CompileSettings`` names) this backend cannot honour -> why
    unsupported_features: dict[str, str] = field(default_factory=dict)
    #: engine-feature settings this backend builds only with a CUDA GPU present -> why
    gpu_build_features: dict[str, str] = field(default_factory=dict)
    #: every engine runs on all GPUs the backend supports (Ampere and later): there is no
    #: hardware-compatibility level to set, hardware_compatible=True is always met
    portable_engines: bool = False
    #: the limits its layers enforce (TopK K, NMS boxes, ranks)
    limits: LayerLimits = field(default_factory=LayerLimits)

    def supports(self, layer: str) -> bool:
        return layer not in self.unsupported_layers

    def why_not(self, layer: str) -> str:
        return self.notes.get(layer, f"{self.backend} cannot build {layer} layers")


_RTX_NO_RUNNER = (
    "TensorRT-RTX has no runner for {0} layers (network construction works, the build fails); "
    "build with full TensorRT, or check the network with target_backend='tensorrt', build=False"
)

_RTX_REFIT_NEEDS_GPU = (
    "TensorRT-RTX builds engines with refittable weights only with a CUDA GPU present (on a machine "
    "without one its builder fails: MyelinCheckException ... CUDA_SUCCESS); build on a GPU machine, "
    "or check the network with target_backend='tensorrt', build=False"
)

#: The capability table. Extend it as backends change; nothing else may special-case a backend.
CAPABILITIES: dict[str, Capabilities] = {
    "tensorrt": Capabilities(
        backend="tensorrt",
        unsupported_features={
            "runtime_cache_path": (
                "runtime_cache_path is TensorRT-RTX's runtime cache of JIT-compiled kernels; full "
                "TensorRT has none (its build-time equivalent is timing_cache_path)"
            ),
        },
    ),
    "tensorrt_rtx": Capabilities(
        backend="tensorrt_rtx",
        unsupported_layers=frozenset({"NON_ZERO", "NMS"}),
        notes={
            "NON_ZERO": _RTX_NO_RUNNER.format("NonZero"),
            "NMS": _RTX_NO_RUNNER.format("NMS"),
        },
        builds_without_gpu=True,
        refused_compute_capabilities=frozenset({90}),
        # "portable to any supported Ampere and later device" by default (CPU-only AOT docs);
        # its builder warns that setHardwareCompatibilityLevel is unsupported (measured, 1.7)
        portable_engines=True,
        unsupported_features={
            "version_compatible": (
                "TensorRT-RTX cannot build version-compatible engines: they embed the lean runtime "
                "(libnvinfer_lean.so.1), which the TensorRT-RTX wheel does not ship; build with full "
                "TensorRT, or leave version_compatible=False"
            ),
            "timing_cache_path": (
                "TensorRT-RTX has no timing cache (its timing-cache calls are no-ops since 1.2); its "
                "equivalent is the runtime cache of JIT-compiled kernels: use runtime_cache_path"
            ),
        },
        gpu_build_features={
            "immutable_weights": _RTX_REFIT_NEEDS_GPU,
            "strip_engine_weights": _RTX_REFIT_NEEDS_GPU,
            "refit_identical_engine_weights": _RTX_REFIT_NEEDS_GPU,
        },
    ),
}


def feature_refusals(requested: dict[str, Any], target: str, building_with: str | None,
                     gpu_present: bool) -> list[str]:
    """Why each requested engine feature cannot be honoured (empty: all can).

    ``requested`` maps setting names to non-default values; ``target`` is the backend the
    engines are for; ``building_with`` the backend that builds them (None: networks only).
    A feature the target lacks is refused even without a build; one that needs a GPU to
    build is refused only when this machine builds without a GPU.
    """
    out = []
    caps = capabilities(target)
    for setting in requested:
        if setting in caps.unsupported_features:
            out.append(f"{setting}: {caps.unsupported_features[setting]}")
    if building_with is not None and not gpu_present:
        builder = capabilities(building_with)
        for setting in requested:
            if setting in builder.gpu_build_features:
                out.append(f"{setting}={requested[setting]!r}: {builder.gpu_build_features[setting]}")
    return out


def capabilities(backend: str | None = None) -> Capabilities:
    """Capability table of ``backend`` (default: the installed backend, else full TensorRT)."""
    if backend is None:
        backend = name() if available() else "tensorrt"
    try:
        return CAPABILITIES[backend]
    except KeyError:
        raise ValueError(
            f"unknown TensorRT backend {backend!r}; expected one of {sorted(CAPABILITIES)}"
        ) from None


_loaded: tuple[str, ModuleType] | None = None
_load_error: str | None = None


def _candidates() -> list[str]:
    forced = os.environ.get("TRTFORGE_BACKEND", "").strip()
    if forced:
        if forced not in BACKENDS:
            raise BackendUnavailable(
                f"TRTFORGE_BACKEND={forced!r} is not a backend; use one of {sorted(BACKENDS)}"
            )
        return [forced]
    return ["tensorrt", "tensorrt_rtx"]


def load(backend: str | None = None) -> tuple[str, ModuleType]:
    """Import and return ``(name, module)`` of the backend in use.

    ``backend`` asks for a specific one; by default full TensorRT is preferred,
    then TensorRT-RTX (override with the ``TRTFORGE_BACKEND`` environment variable).
    """
    global _loaded, _load_error
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown TensorRT backend {backend!r}; expected one of {sorted(BACKENDS)}")
        if _loaded and _loaded[0] == backend:
            return _loaded
        try:
            mod = importlib.import_module(BACKENDS[backend])
        except ImportError as exc:
            raise BackendUnavailable(
                f"backend {backend!r} was requested but `import {BACKENDS[backend]}` failed ({exc}); "
                f"install it with: {_INSTALL_HINT[backend]}"
            ) from exc
        if _loaded is None:
            _loaded = (backend, mod)
        return backend, mod
    if _loaded is not None:
        return _loaded
    errors = []
    for cand in _candidates():
        try:
            mod = importlib.import_module(BACKENDS[cand])
        except Exception as exc:  # a broken install raises more than ImportError
            errors.append(f"`import {BACKENDS[cand]}`: {exc}")
            continue
        _loaded = (cand, mod)
        return _loaded
    _load_error = "; ".join(errors)
    forced = os.environ.get("TRTFORGE_BACKEND", "").strip()
    if forced:
        other = next(b for b in BACKENDS if b != forced)
        there = importlib.util.find_spec(BACKENDS[other]) is not None
        raise BackendUnavailable(
            f"TRTFORGE_BACKEND={forced} asks for {forced}, which is not installed ({_load_error})"
            + (f"; {other} is installed: unset TRTFORGE_BACKEND (or set it to {other}) to use it," if there else ";")
            + f" or install {forced} with `{_INSTALL_HINT[forced]}`"
        )
    raise BackendUnavailable(
        "no TensorRT backend is installed (" + _load_error + "). Install full TensorRT with "
        f"`{_INSTALL_HINT['tensorrt']}` or TensorRT-RTX with `{_INSTALL_HINT['tensorrt_rtx']}`."
    )


@dataclass(frozen=True)
class Backend:
    """The TensorRT backend of one compile: its name, Python module, version and capabilities.

    A compile resolves one and hands it to conversion, build, dtype mapping and metadata,
    so a compile that asks for ``tensorrt_rtx`` builds with TensorRT-RTX even when another
    module was imported first in the process.
    """

    name: str
    module: ModuleType
    version: str
    capabilities: Capabilities

    def create_network(self, builder: Any) -> Any:
        """A strongly typed network (TensorRT-RTX networks always are; full TensorRT needs the flag)."""
        flag = getattr(self.module.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        return builder.create_network(0 if flag is None else 1 << int(flag))

    def logger(self) -> Any:
        """This backend's TensorRT logger, one for the process (TensorRT keeps one anyway): its
        messages go to ``logging.getLogger("trtforge.tensorrt")`` (severity mapped to a level),
        its latest errors are kept (``.errors``) for error reports. See :mod:`.trt_logger`."""
        from .trt_logger import logger_for

        return logger_for(self.module)


def resolve(backend: str | None = None) -> Backend:
    """The :class:`Backend` named ``backend`` (imported now), or the default one (see :func:`load`)."""
    name_, mod = load(backend)
    return Backend(name_, mod, str(getattr(mod, "__version__", "unknown")), capabilities(name_))


def available() -> bool:
    """True if some backend can be imported."""
    try:
        load()
    except BackendUnavailable:
        return False
    return True


def name() -> str:
    """Name of the backend in use: ``"tensorrt"`` or ``"tensorrt_rtx"``."""
    return load()[0]


def version() -> str:
    return str(getattr(load()[1], "__version__", "unknown"))


def __getattr__(attr: str) -> Any:
    # ``trtforge.backend.trt`` is the TensorRT module in use, imported on first access.
    if attr == "trt":
        return load()[1]
    raise AttributeError(f"module 'trtforge.backend' has no attribute {attr!r}")


# -- the default backend's spelling of the calls that differ (see :class:`Backend`) ------------
def create_network(builder: Any) -> Any:
    return resolve().create_network(builder)


def logger() -> Any:
    return resolve().logger()
