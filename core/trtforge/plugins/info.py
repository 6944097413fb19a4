"""What a pack says about itself, and the API version contract (no torch import: the CLI reads it)."""
from __future__ import annotations

from dataclasses import dataclass

#: Version of the pack contract (hooks, decorator, conversion context). A pack
#: written for ``MAJOR.MINOR`` loads on a core with the same MAJOR and MINOR >= it.
#: 1.1 added the converter toolkit (``conversion.args``, ``conversion.bounds``, layer limits,
#: ``blocks.same_rank``), ``register(module)`` and PackInfo defaults from metadata.
CORE_API_VERSION = "1.1"


@dataclass(frozen=True)
class PackInfo:
    """What a pack says about itself through ``trtforge_pack_info``.

    Only ``api_version`` needs saying: ``PackInfo(api_version="1.1")``. What is left out is read
    from the pack's distribution metadata (``pyproject.toml``), so it is written once: the name
    is the entry point's, the version the distribution's, the description its ``description``
    (summary), else the first line of the pack module's docstring.
    """

    name: str | None = None
    version: str | None = None
    description: str | None = None
    api_version: str = CORE_API_VERSION


def api_compatible(pack_version: str, core_version: str = CORE_API_VERSION) -> bool:
    try:
        pmaj, pmin = (int(x) for x in (str(pack_version).split(".") + ["0"])[:2])
        cmaj, cmin = (int(x) for x in (core_version.split(".") + ["0"])[:2])
    except ValueError:
        return False
    return pmaj == cmaj and pmin <= cmin
