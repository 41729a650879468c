"""The device side: inference, bundles, Edge TPU readiness. Needs numpy, pillow and
ai-edge-litert (or onnxruntime); never TensorFlow."""
