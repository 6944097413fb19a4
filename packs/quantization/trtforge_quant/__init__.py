"""trtforge-quant: quantized PyTorch graphs (PT2E, torchao) as TensorRT quantize/dequantize layers."""
__version__ = "0.1.0"
