"""Engine runtime: modules that run TensorRT engines inside PyTorch, runtime modes, save/load.

Importing this package never imports a pack or the compiler stages.
"""
from .metadata import ABI_VERSION, EngineMetadata, TensorSpec
from .module import TRTEngineModule

__all__ = ["ABI_VERSION", "EngineMetadata", "TensorSpec", "TRTEngineModule", "save", "load"]


def save(*args, **kwargs):  # replaced by the save/load implementation
    raise NotImplementedError("trtforge.save is not implemented yet")


def load(*args, **kwargs):
    raise NotImplementedError("trtforge.load is not implemented yet")
