"""trtforge-detection: torchvision.ops detection ops: nms, roi_align, roi_pool, box utilities."""
__version__ = "0.1.0"
