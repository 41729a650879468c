"""Quantization in one place: the method registry (PTQ and its remedies), TFLite int8
conversions, ONNX QDQ, and quantization-aware training."""
