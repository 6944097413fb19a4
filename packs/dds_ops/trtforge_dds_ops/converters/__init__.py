"""Converters of the dds_ops pack, one module per op family (``register(converters)`` finds them)."""
