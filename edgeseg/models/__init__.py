"""Model builders (tf_keras) and model I/O. Importing this package does not import TensorFlow."""
