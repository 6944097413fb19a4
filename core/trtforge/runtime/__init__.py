"""Engine runtime: what a deployed program needs, and all it needs.

Modules that run TensorRT engines inside PyTorch (:class:`TRTEngineModule`), the
runtime modes (CUDA graphs, pre-allocated outputs, output allocator, weight
streaming, multi-device safe mode) and save/load of compiled programs.

Importing this package never imports a pack or the compiler stages
(lowering, partitioning, conversion, compiler), nor TensorRT itself: the
backend is imported when an engine is first loaded or run. It registers the
``trtforge::execute_engine`` operator, so a saved program also runs from a plain
``torch.export.load`` once ``trtforge.runtime`` is imported.
"""
from .cudagraphs import CudaGraphsModule
from ..errors import (
    ABIVersionError,
    BackendMismatchError,
    CorruptedProgramError,
    EngineDeserializationError,
    EngineExecutionError,
    EngineInputError,
    EngineNotBuiltError,
    IncompatibleModesError,
    NoCUDADeviceError,
    SavedProgramError,
    TensorRTNotInstalledError,
    TRTForgeRuntimeError,
    UnsupportedDeviceError,
    WeightStreamingError,
)
from .metadata import ABI_VERSION, EngineMetadata, TensorSpec, symbolic_shape_exprs
from .modes import enable_cudagraphs, enable_output_allocator, enable_pre_allocated_outputs, weight_streaming
from .state import (
    CudaGraphsMode,
    get_cudagraphs_mode,
    get_multi_device_safe_mode,
    get_whole_cudagraphs_mode,
    set_cudagraphs_mode,
    set_multi_device_safe_mode,
)
from .module import TRTEngineModule
from .modes import engines_of
from .profiles import optimization_profile
from .ops import clear_engine_cache, clear_loaded_engines
from .runner import EngineRunner, TRTEngineRunner
from .archive import inspect_saved
from .loading import load
from .saving import save

__all__ = [
    "ABI_VERSION",
    "ABIVersionError",
    "BackendMismatchError",
    "CorruptedProgramError",
    "CudaGraphsMode",
    "CudaGraphsModule",
    "EngineDeserializationError",
    "EngineExecutionError",
    "EngineInputError",
    "EngineMetadata",
    "EngineNotBuiltError",
    "EngineRunner",
    "IncompatibleModesError",
    "NoCUDADeviceError",
    "SavedProgramError",
    "TRTEngineModule",
    "TRTEngineRunner",
    "TRTForgeRuntimeError",
    "TensorRTNotInstalledError",
    "TensorSpec",
    "UnsupportedDeviceError",
    "WeightStreamingError",
    "clear_engine_cache",
    "clear_loaded_engines",
    "enable_cudagraphs",
    "enable_output_allocator",
    "enable_pre_allocated_outputs",
    "engines_of",
    "get_cudagraphs_mode",
    "get_multi_device_safe_mode",
    "get_whole_cudagraphs_mode",
    "inspect_saved",
    "load",
    "optimization_profile",
    "save",
    "set_cudagraphs_mode",
    "set_multi_device_safe_mode",
    "symbolic_shape_exprs",
    "weight_streaming",
]
