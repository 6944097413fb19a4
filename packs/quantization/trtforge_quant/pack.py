"""Pack entry point (`trtforge.packs` entry point `quant`): identity and registrations.

Name, version and description come from the distribution's metadata (pyproject.toml).
"""
from __future__ import annotations

import trtforge


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(api_version="1.1")


@trtforge.hookimpl
def trtforge_register_converters(register):
    # imported here, not at module import: loading the pack stays cheap
    from . import converters

    register(converters)


@trtforge.hookimpl
def trtforge_register_lowering_passes(register):
    from .passes import torchao_weights_to_dequantize

    register(torchao_weights_to_dequantize)
