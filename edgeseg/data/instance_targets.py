"""Instance-label maps -> the network's training targets, in numpy, after augmentation.

Targets are sigmoid channels, all in [0, 1] so one int8 scale fits the whole output tensor:
  0 foreground (1 inside any object),
  1 normalized inner distance (each object's Euclidean distance to its own edge, divided by its
    maximum, so small and large objects both peak at 1 in their centre),
  2 boundary (optional: the object's pixels next to background or another object).
Distances are computed per object, so two touching objects each fall to 0 where they meet:
that valley is what the decoder splits them along.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def inner_distance(labels: np.ndarray) -> np.ndarray:
    """Per-object distance to the object's edge, normalized to a peak of 1 (float32)."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, np.float32)
    for object_id, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        mine = np.pad(labels[box] == object_id, 1)  # padded: the image border counts as an edge
        distance = ndimage.distance_transform_edt(mine)[1:-1, 1:-1]
        peak = distance.max()
        if peak > 0:
            out[box] = np.where(labels[box] == object_id, distance / peak, out[box])
    return out


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Object pixels whose 4-neighbour (or the image border) carries a different label."""
    labels = np.asarray(labels)
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = np.zeros(labels.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy:dy + labels.shape[0], dx:dx + labels.shape[1]] != centre
    return differs & (labels > 0)


def instance_targets(labels: np.ndarray, boundary: bool = False) -> np.ndarray:
    """H x W label map -> H x W x (2 or 3) float32 targets (foreground, distance[, boundary])."""
    labels = np.asarray(labels)
    channels = [(labels > 0).astype(np.float32), inner_distance(labels)]
    if boundary:
        channels.append(boundaries(labels).astype(np.float32))
    return np.stack(channels, axis=-1)


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Ids renumbered 1..N in order of value (0 stays background), as int32."""
    ids, index = np.unique(np.asarray(labels), return_inverse=True)
    offset = 0 if ids[0] == 0 else 1
    return (index.reshape(np.shape(labels)) + offset).astype(np.int32)
