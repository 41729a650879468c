"""Data: directory datasets, the synthetic generator, preprocessing and augmentation (numpy + pillow)."""
from .dataset import SegmentationData, load_splits, write_dataset

__all__ = ["SegmentationData", "load_splits", "write_dataset"]
