"""TensorFlow-free facts about artifact files: TFLite flatbuffers, ONNX metadata, hashes,
sizes, and the typed reports other commands read."""
