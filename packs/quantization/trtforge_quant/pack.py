"""Pack entry point (`trtforge.packs` entry point `quant`): identity and registrations.

Name, version and description come from the distribution's metadata (pyproject.toml); the
converters and the pass are imported when the pack loads, not when Python starts.
"""
from __future__ import annotations

import trtforge
from trtforge.plugins import converters_hook, info_hook

trtforge_pack_info = info_hook(api_version="1.1")
trtforge_register_converters = converters_hook("trtforge_quant.converters")


@trtforge.hookimpl
def trtforge_register_lowering_passes(register):
    from .passes import torchao_weights_to_dequantize

    register(torchao_weights_to_dequantize)
