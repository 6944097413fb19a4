"""Pack entry point (`trtforge.packs` entry point `quant`): identity and registrations."""
from __future__ import annotations

import trtforge

from . import __version__


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(
        name="quant",
        version=__version__,
        description="quantize/dequantize ops of PT2E and torchao as TensorRT Q/DQ layers (INT8, FP8, INT4 weights)",
        api_version="1.0",
    )


@trtforge.hookimpl
def trtforge_register_converters(register):
    # imported here, not at module import: loading the pack stays cheap
    from . import converters

    register(*converters.ALL)


@trtforge.hookimpl
def trtforge_register_lowering_passes(register):
    from .passes import torchao_weights_to_dequantize

    register(torchao_weights_to_dequantize)
