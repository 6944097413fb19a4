"""Pack entry point (`trtforge.packs` entry point `vision`): identity and registrations."""
from __future__ import annotations

import trtforge

from . import __version__


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(
        name="vision",
        version=__version__,
        description="every op torchvision classifiers need (CNNs and vision transformers)",
        api_version="1.0",
    )


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    register(*converters.ALL)


@trtforge.hookimpl
def trtforge_register_lowering_passes(register):
    from .passes import fold_batch_norm, views_to_reshape

    register(views_to_reshape)
    register(fold_batch_norm)
