"""Converters of the transformers pack, one module per family; :data:`ALL` lists them for ``register``."""
from __future__ import annotations

from . import attention, embedding, norm  # noqa: F401
from ._util import ALL

__all__ = ["ALL"]
