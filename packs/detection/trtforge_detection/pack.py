"""Pack entry point (`trtforge.packs` entry point `detection`): identity and registrations.

Name, version and description come from the distribution's metadata (pyproject.toml), so they
are written once.
"""
from __future__ import annotations

import trtforge
from trtforge.plugins import info_hook

trtforge_pack_info = info_hook(api_version="1.1")


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    if converters.HAS_TORCHVISION:
        register(converters)
    else:  # the other modules name torchvision's ops: only the ranking ones can load
        from .converters import ranking

        register(ranking)
