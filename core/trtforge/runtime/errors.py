"""Errors raised by the runtime. Every one says what went wrong and what to do about it."""
from __future__ import annotations

__all__ = [
    "ABIVersionError",
    "BackendMismatchError",
    "CorruptedProgramError",
    "EngineDeserializationError",
    "EngineExecutionError",
    "EngineInputError",
    "EngineNotBuiltError",
    "IncompatibleModesError",
    "NoCUDADeviceError",
    "SavedProgramError",
    "TensorRTNotInstalledError",
    "TRTForgeRuntimeError",
    "UnsupportedDeviceError",
    "WeightStreamingError",
]


class TRTForgeRuntimeError(RuntimeError):
    """Base class of every error raised by :mod:`trtforge.runtime`."""


class EngineNotBuiltError(TRTForgeRuntimeError):
    """The module holds a checked network but no engine (compiled with ``build=False``)."""


class EngineInputError(TRTForgeRuntimeError, ValueError):
    """Inputs do not match the engine: count, dtype, device or shape (outside the profile)."""


class NoCUDADeviceError(TRTForgeRuntimeError):
    """No CUDA GPU is available, and TensorRT engines only run on one."""


class UnsupportedDeviceError(TRTForgeRuntimeError):
    """The GPU is one the engine's backend or build cannot run on."""


class TensorRTNotInstalledError(TRTForgeRuntimeError, ImportError):
    """The TensorRT backend an engine needs cannot be imported."""


class EngineDeserializationError(TRTForgeRuntimeError):
    """TensorRT could not deserialize an engine (version, device or corruption)."""


class EngineExecutionError(TRTForgeRuntimeError):
    """TensorRT reported a failure while enqueuing an engine."""


class IncompatibleModesError(TRTForgeRuntimeError):
    """Two runtime modes that cannot be combined were asked for."""


class WeightStreamingError(TRTForgeRuntimeError):
    """Weight streaming was asked of engines built without it, or with a bad budget."""


class SavedProgramError(TRTForgeRuntimeError):
    """A saved program cannot be loaded (base class of the specific cases below)."""


class CorruptedProgramError(SavedProgramError):
    """The file is truncated, corrupted, or an engine's bytes fail their checksum."""


class ABIVersionError(SavedProgramError):
    """The program (or one engine record) was saved with a different runtime ABI version."""


class BackendMismatchError(SavedProgramError):
    """An engine was built for a different TensorRT backend than the one installed."""
