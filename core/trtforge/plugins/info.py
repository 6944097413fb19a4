"""What a pack says about itself, and the API version contract (no torch import: the CLI reads it)."""
from __future__ import annotations

from dataclasses import dataclass

#: Version of the pack contract (hooks, decorator, conversion context). A pack
#: written for ``MAJOR.MINOR`` loads on a core with the same MAJOR and MINOR >= it.
CORE_API_VERSION = "1.0"


@dataclass(frozen=True)
class PackInfo:
    """What a pack says about itself through ``trtforge_pack_info``."""

    name: str
    version: str
    description: str = ""
    api_version: str = CORE_API_VERSION


def api_compatible(pack_version: str, core_version: str = CORE_API_VERSION) -> bool:
    try:
        pmaj, pmin = (int(x) for x in (str(pack_version).split(".") + ["0"])[:2])
        cmaj, cmin = (int(x) for x in (core_version.split(".") + ["0"])[:2])
    except ValueError:
        return False
    return pmaj == cmaj and pmin <= cmin
