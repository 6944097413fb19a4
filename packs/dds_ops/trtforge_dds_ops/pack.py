"""Pack entry point (`trtforge.packs` entry point `dds_ops`): identity and registrations.

Name, version and description come from the distribution's metadata (pyproject.toml), so they
are written once.
"""
from __future__ import annotations

import trtforge


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(api_version="1.1")


@trtforge.hookimpl
def trtforge_register_converters(register):
    # Converters are imported here, not at module import: loading the pack stays cheap.
    from . import converters

    register(converters)
