"""trtforge-detection: torchvision.ops detection ops: nms, roi_align, roi_pool, box utilities."""
from importlib.metadata import PackageNotFoundError, version

try:  # one version, the distribution's (pyproject.toml)
    __version__ = version("trtforge-detection")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "unknown"
