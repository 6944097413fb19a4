"""Converters of the transformers pack, one module per family (``register(converters)`` finds them)."""
