# file: trtforge_example_pack/pack.py
"""The module the entry point names: the pack's identity and its registrations."""
import trtforge

from . import __version__


@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo(
        name="example",
        version=__version__,
        description="example::scaled_softsign (a torch.library custom op)",
        api_version="1.0",  # the core API this pack is written against
    )


@trtforge.hookimpl
def trtforge_register_converters(register):
    from . import converters  # imported when the pack loads, not when Python starts

    register(*converters.ALL)
