"""trtforge-dds-ops: data-dependent-shape ops: nonzero, unique, masked_select, boolean indexing."""
__version__ = "0.1.0"
