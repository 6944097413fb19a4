"""Every error trtforge raises on purpose, in one family under :class:`TRTForgeError`.

Compile-time errors derive from :class:`CompilationError` (one per stage: export,
partitioning, conversion, build, validation); errors of the deployed runtime derive
from :class:`TRTForgeRuntimeError`. Every message says what went wrong and what to
do about it. This module imports nothing, so the runtime can use it without the
compiler.
"""
from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "BuildError",
    "CacheStoreError",
    "CompilationError",
    "ConversionError",
    "ExportError",
    "SettingError",
    "OutputWriteError",
    "PackLoadError",
    "PartitioningError",
    "PrecisionSettingError",
    "ReferenceExecutionError",
    "RefitError",
    "TRTForgeError",
    "UnsupportedLayerError",
    "ValidationError",
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


class TRTForgeError(Exception):
    """Base class of every error trtforge raises on purpose."""


# -- setup --------------------------------------------------------------------------------
class BackendUnavailable(TRTForgeError, ImportError):
    """No usable TensorRT module could be imported."""


class PackLoadError(TRTForgeError, RuntimeError):
    """A pack could not be loaded (raised only in strict mode)."""


class SettingError(TRTForgeError, ValueError):
    """A setting (or a CLI option) has the wrong type or value, or names an op, pack or converter
    that does not exist; the message names the setting and the fix (often a did-you-mean)."""


# -- files --------------------------------------------------------------------------------
class OutputWriteError(TRTForgeError, OSError):
    """A file could not be written; the message names the path, the reason and the fix. The file
    that was at that path before (if any) is unchanged: writes are atomic."""


class CacheStoreError(TRTForgeError, RuntimeError):
    """An engine cache entry was not stored (full disk, unwritable directory, larger than
    ``engine_cache_size``). The compile reports it as a warning and still returns its program."""


# -- compile time -------------------------------------------------------------------------
class CompilationError(TRTForgeError, RuntimeError):
    """Compilation cannot produce what the settings ask for; the message says which nodes and why."""


class PrecisionSettingError(SettingError, CompilationError):
    """``keep_fp32`` names what no node of the graph matches; the message lists close names."""


class ExportError(CompilationError):
    """torch.export could not capture the model with the given inputs."""


class PartitioningError(CompilationError):
    """The graph could not be split into engine partitions."""


class ConversionError(CompilationError):
    """A converter could not convert a node; the message names the node, op, pack and converter."""


class BuildError(CompilationError):
    """TensorRT returned no engine; the message carries the builder's errors."""


class ValidationError(CompilationError):
    """A network's outputs disagree with PyTorch beyond tolerance."""


class RefitError(TRTForgeError, ValueError):
    """New weights cannot be mapped onto an engine, or the engine cannot be refitted; the message
    names the engine, the weight and the cause."""


class ReferenceExecutionError(TRTForgeError, RuntimeError):
    """The reference executor cannot execute a network: bad inputs, an invalid layer, or a failed check."""


class UnsupportedLayerError(ReferenceExecutionError, NotImplementedError):
    """The reference executor has no implementation for this layer type (or mode)."""


# -- runtime ------------------------------------------------------------------------------
class TRTForgeRuntimeError(TRTForgeError, RuntimeError):
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
