"""The pack's identity and registrations: from pyproject metadata and ``register(converters)``."""
from __future__ import annotations

from importlib.metadata import metadata

import trtforge_dds_ops.pack as pack
from trtforge.plugins import PackManager

#: (op, converter) pairs the pack registered with its hand-written ALL lists, before register(converters)
EXPECTED = sorted([
    ("aten._unique2.default", "unique"), ("aten.index.Tensor", "index_bool"),
    ("aten.index_put.default", "index_put_broadcast"), ("aten.index_put.default", "index_put_scatter"),
    ("aten.masked_select.default", "masked_select"), ("aten.nonzero.default", "nonzero"),
    ("aten.nonzero_numpy.default", "nonzero_tuple"), ("aten.unique_consecutive.default", "unique_consecutive"),
    ("aten.unique_dim.default", "unique_dim"), ("aten.where.default", "nonzero_tuple"),
])


def test_dds_pack_registers_its_converters_package():
    rec = PackManager(discover=False).add_pack("dds_ops", pack)
    assert rec.status == "loaded", rec.error
    assert sorted((str(s.target), s.fn.__name__) for s in rec.converters) == EXPECTED
    meta = metadata("trtforge-dds-ops")
    assert (rec.version, rec.description, rec.api_version) == (meta["Version"], meta["Summary"], "1.1")
    assert "nonzero" in rec.description
