"""Pack entry point (`trtforge.packs` entry point `vision`): identity and registrations."""
from __future__ import annotations

import trtforge


@trtforge.hookimpl
def trtforge_pack_info():
    # name, version and description come from the entry point and the distribution (pyproject.toml)
    return trtforge.PackInfo(api_version="1.1")


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    register(converters)


@trtforge.hookimpl
def trtforge_register_lowering_passes(register):
    from .passes import fold_batch_norm

    register(fold_batch_norm)
