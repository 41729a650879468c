"""Benchmarking: any artifact on any available runtime, interleaved, with Dice and size."""
