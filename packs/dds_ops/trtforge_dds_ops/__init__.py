"""trtforge-dds-ops: data-dependent-shape ops: nonzero, unique, masked_select, boolean indexing."""
from importlib.metadata import PackageNotFoundError, version

try:  # one version, the distribution's (pyproject.toml)
    __version__ = version("trtforge-dds-ops")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "unknown"
