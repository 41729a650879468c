"""Compression: pruning, quantization with an accuracy guard, and the compress pipeline."""
