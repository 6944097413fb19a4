# file: trtforge_example_pack/__init__.py
"""trtforge-example-pack: converts the example::scaled_softsign custom op to TensorRT."""
