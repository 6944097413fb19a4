"""Converters of the vision pack, one module per family; :data:`ALL` lists them for ``register``."""
from __future__ import annotations

from . import (  # noqa: F401
    activations, attention, conv, distance, elementwise, factory, indexing, matmul, norm, pooling, prims, reductions,
    resize, scatter, shape, views,
)
from ._util import ALL

__all__ = ["ALL"]
