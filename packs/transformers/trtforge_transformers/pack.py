"""Pack entry point (`trtforge.packs` entry point `transformers`): identity and registrations."""
from __future__ import annotations

import trtforge

from . import __version__


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(
        name="transformers",
        version=__version__,
        description="ops only transformer models use: embeddings, every attention overload, RMS norm",
        api_version="1.0",
    )


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    register(*converters.ALL)
