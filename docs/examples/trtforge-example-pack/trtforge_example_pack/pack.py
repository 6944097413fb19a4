# file: trtforge_example_pack/pack.py
"""The module the entry point names: the pack's identity and its registrations."""
import trtforge


@trtforge.hookimpl
def trtforge_pack_info():
    # name (the entry point's), version and description (pyproject.toml's) are read from the
    # distribution: only the core API this pack is written against needs saying
    return trtforge.PackInfo(api_version="1.1")


@trtforge.hookimpl
def trtforge_register_converters(register):
    from . import converters  # imported when the pack loads, not when Python starts

    register(converters)  # every @trtforge.converter function the module defines
