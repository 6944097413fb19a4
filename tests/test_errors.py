"""One error family: every error trtforge raises on purpose derives from ``trtforge.TRTForgeError``."""
from __future__ import annotations

import subprocess
import sys

import trtforge
from trtforge import errors

COMPILE = ["ExportError", "PartitioningError", "ConversionError", "BuildError", "ValidationError"]


def test_every_error_is_a_trtforge_error_importable_from_the_top_level():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.TRTForgeError), name
        assert getattr(trtforge, name) is cls, name
        assert name in trtforge.__all__, name


def test_compile_errors_share_one_base_and_validation_is_no_assertion():
    for name in COMPILE:
        assert issubclass(getattr(trtforge, name), trtforge.CompilationError), name
    assert not issubclass(trtforge.ValidationError, AssertionError)
    assert issubclass(trtforge.EngineInputError, trtforge.TRTForgeError)
    assert issubclass(trtforge.EngineInputError, ValueError)  # the runtime family keeps its bases
    assert issubclass(trtforge.BackendUnavailable, ImportError)


def test_stage_modules_raise_the_family_classes():
    from trtforge.compiler import CompilationError
    from trtforge.conversion.context import ConversionError
    from trtforge.conversion.engine import BuildError
    from trtforge.lowering import ExportError
    from trtforge.plugins import PackLoadError
    from trtforge.runtime import TRTForgeRuntimeError

    assert (CompilationError, ConversionError, BuildError, ExportError, PackLoadError, TRTForgeRuntimeError) == (
        errors.CompilationError, errors.ConversionError, errors.BuildError, errors.ExportError,
        errors.PackLoadError, errors.TRTForgeRuntimeError)


def test_importing_the_errors_imports_no_torch():
    code = "import sys, trtforge.errors, trtforge; trtforge.ConversionError; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
