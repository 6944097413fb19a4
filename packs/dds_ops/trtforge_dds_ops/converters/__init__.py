"""Converters of the dds_ops pack, one module per op family."""
from . import masking, nonzero, unique

ALL: list = [*nonzero.ALL, *masking.ALL, *unique.ALL]
