"""The validation stage: each built network runs on CPU with the reference executor
(:mod:`trtforge.validation.reference`, TensorRT's documented semantics in PyTorch) and is
compared with the PyTorch partition it came from (``validate=True``)."""
