"""trtforge-vision: every op torchvision classifiers need (CNNs and vision transformers)."""
__version__ = "0.1.0"
