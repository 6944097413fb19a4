"""Converters of the vision pack, one module per family; :data:`ALL` lists them for ``register``."""
from __future__ import annotations

from . import activations, attention, conv, elementwise, factory, matmul, norm, pooling, reductions, resize, shape  # noqa: F401
from ._util import ALL

__all__ = ["ALL"]
