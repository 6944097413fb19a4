"""Pack entry point (`trtforge.packs` entry point `detection`): identity and registrations."""
from __future__ import annotations

import trtforge

from . import __version__


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(
        name="detection",
        version=__version__,
        description="torchvision.ops detection ops: nms, roi_align, roi_pool, box utilities",
        api_version="1.0",
    )


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    register(*converters.ALL)
