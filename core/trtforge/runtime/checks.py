"""Can this engine run here? The checks shared by the runner and by :func:`trtforge.runtime.load`.

Each names what is missing and what to do: the backend the engine was built for (and the one
installed instead), a CUDA GPU, a GPU the backend and the engine's build accept. They read the
engine's metadata only, so a program is refused before any engine is deserialized.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import BackendMismatchError, NoCUDADeviceError, TensorRTNotInstalledError, UnsupportedDeviceError
from .metadata import EngineMetadata

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

__all__ = ["check_device_supported", "require_backend", "require_cuda"]

_PRETTY = {"tensorrt": "full TensorRT", "tensorrt_rtx": "TensorRT-RTX"}


def require_backend(md: EngineMetadata) -> "ModuleType":
    """Import the backend ``md`` was built for, or raise a clear error saying which is missing."""
    from trtforge import backend

    wanted = md.backend
    if wanted not in backend.BACKENDS:
        raise BackendMismatchError(
            f"engine {md.name!r} was built for an unknown TensorRT backend {wanted!r}; this trtforge "
            f"knows {sorted(backend.BACKENDS)}"
        )
    try:
        return backend.load(wanted)[1]
    except backend.BackendUnavailable as exc:
        others: list[tuple[str, str]] = []
        for other in backend.BACKENDS:
            if other == wanted:
                continue
            try:
                _, mod = backend.load(other)
            except backend.BackendUnavailable:
                continue
            others.append((other, str(getattr(mod, "__version__", "?"))))
        hint = backend._INSTALL_HINT[wanted]
        if others:
            here = ", ".join(f"{_PRETTY.get(o, o)} ({o} {v})" for o, v in others)
            raise BackendMismatchError(
                f"engine {md.name!r} was built for {_PRETTY.get(wanted, wanted)} ({wanted}"
                f"{' ' + md.backend_version if md.backend_version else ''}), but the TensorRT installed "
                f"here is {here}; engines do not move between backends: install {wanted} with "
                f"`{hint}`, or recompile the model with backend={others[0][0]!r}"
            ) from exc
        raise TensorRTNotInstalledError(
            f"engine {md.name!r} needs {_PRETTY.get(wanted, wanted)} ({wanted}), and no TensorRT is "
            f"installed; install it with `{hint}`"
        ) from exc


def require_cuda(md: EngineMetadata) -> None:
    if not torch.cuda.is_available():
        raise NoCUDADeviceError(
            f"engine {md.name!r} cannot run: no CUDA GPU is available (torch.cuda.is_available() is "
            "False). TensorRT engines execute only on an NVIDIA GPU; on this machine the program can be "
            "loaded and inspected (`trtforge inspect`), not run"
        )


def check_device_supported(md: EngineMetadata, device: torch.device) -> None:
    from trtforge import backend

    major, minor = torch.cuda.get_device_capability(device)
    cc = major * 10 + minor
    caps = backend.capabilities(md.backend) if md.backend in backend.CAPABILITIES else None
    if caps is not None and cc in caps.refused_compute_capabilities:
        raise UnsupportedDeviceError(
            f"engine {md.name!r} was built for {_PRETTY.get(md.backend, md.backend)}, which refuses to run "
            f"on {torch.cuda.get_device_name(device)} (compute capability {major}.{minor}); build it with "
            "the other backend for this GPU"
        )
    if md.compute_capability and md.hardware_compatibility in ("none", "", "NONE"):
        built = md.compute_capability.replace("sm_", "").replace(".", "")
        if built and built != f"{major}{minor}":
            raise UnsupportedDeviceError(
                f"engine {md.name!r} was built for compute capability {md.compute_capability} without "
                f"hardware compatibility, and this GPU ({torch.cuda.get_device_name(device)}) is "
                f"{major}.{minor}; rebuild it on this GPU, or compile with hardware_compatible=True"
            )
