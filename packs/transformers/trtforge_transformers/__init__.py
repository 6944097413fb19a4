"""trtforge-transformers: converters for ops only transformer models use."""
__version__ = "0.1.0"
