"""Device-side instance decoding (numpy + scipy.ndimage, never TensorFlow).

An instance network outputs sigmoid channels, all in [0, 1]: foreground probability, the
normalized inner distance (1 at each object's centre, falling to 0 at its edge) and optionally
a boundary probability. Decoding turns them into one label map and per-instance records:

1. foreground = channel 0 > settings.foreground (THRESHOLD_RULE, the spec's one convention);
2. seeds = connected regions of foreground pixels deep inside an object (distance >= settings.seed,
   and, with a boundary channel, boundary < settings.boundary); tiny seeds are noise and dropped;
   a foreground region with no seed becomes its own seed, so no object is lost;
3. every foreground pixel joins a seed of its own foreground region: the watershed basin it
   reaches by steepest ascent on the distance map, or the nearest seed pixel;
4. instances smaller than settings.min_area are removed and ids renumbered 1..N.

Segmenter.predict decodes instance models once, after tiled probabilities are stitched.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

from ..data.preprocess import resize_image
from ..errors import UsageError
from ..metrics.semantic import foreground as above_threshold
from .rle import rle_encode

CHANNEL_NAMES = ("foreground", "distance", "boundary")
MAX_SMOOTH = 255  # the widest smoothing window, after scaling to the decoding size too


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_integer(value) or isinstance(value, (float, np.floating))) and bool(np.isfinite(value))
# Foreground regions are 8-connected, as the 8-neighbour ascent walks: a region touching
# another only at a corner is one region, so every walk stays inside its own region.
EIGHT_CONNECTED = np.ones((3, 3), bool)


@dataclass(frozen=True)
class DecodeSettings:
    """Thresholds of the decoder, stored in a model's spec as a dict so the device decodes
    exactly as compress verified."""

    foreground: float = 0.5  # foreground probability threshold
    seed: float = 0.5  # normalized inner distance a seed pixel must reach
    boundary: float = 0.5  # boundary probability above which a pixel cannot be a seed
    min_seed_area: int = 2  # pixels (on the network's output grid)
    min_area: int = 8  # pixels (on the network's output grid); scaled when decoding at another size
    method: str = "watershed"  # "watershed" or "nearest"
    # Side of the box filter on the distance channel before seeds and ascent (1 = none). An int8
    # output has few distance levels, and its flat steps and specks split and strand objects.
    smooth: int = 1

    def __post_init__(self) -> None:
        # The settings come from a model or bundle made elsewhere: every field is checked for its
        # type too, so a hand-edited spec fails here in one line, not deep inside numpy.
        for name in ("foreground", "seed", "boundary"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise UsageError(f"decode setting {name} must be a number in [0, 1], got {value!r}")
        for name in ("min_seed_area", "min_area"):
            if not _is_integer(getattr(self, name)) or getattr(self, name) < 1:
                raise UsageError(f"decode setting {name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if not _is_integer(self.smooth) or not 1 <= self.smooth <= MAX_SMOOTH or self.smooth % 2 == 0:
            raise UsageError(f"decode setting smooth must be an odd window side from 1 (none) to {MAX_SMOOTH}, "
                             f"got {self.smooth!r}")
        if not isinstance(self.method, str) or self.method not in ASSIGNERS:
            raise UsageError(f"unknown decode method {self.method!r}; choose one of {', '.join(ASSIGNERS)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict | None) -> "DecodeSettings":
        if raw is not None and not isinstance(raw, dict):
            raise UsageError(f"decode settings must be an object of named settings, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (raw or {}).items() if k in known})


@dataclass(frozen=True)
class InstanceRecord:
    id: int
    area: int  # pixels
    box: tuple[int, int, int, int]  # (top, left, bottom, right), bottom/right exclusive
    centroid: tuple[float, float]  # (y, x)
    score: float  # mean foreground probability over the instance

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Instances:
    labels: np.ndarray  # H x W int32: 0 background, 1..N instances
    records: tuple[InstanceRecord, ...]

    def __len__(self) -> int:
        return len(self.records)

    def to_dicts(self, rle: bool = False) -> list[dict]:
        """JSON-ready records; with rle, each carries its mask as compressed COCO RLE."""
        out = [r.to_dict() for r in self.records]
        if rle:
            for item in out:
                item["segmentation"] = rle_encode(self.labels == item["id"])
        return out


# ---- seeds -----------------------------------------------------------------------------------

def box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """The mean over a size x size window, the edge pixels repeated beyond the border; size 1
    returns `values`. Shifted sums: ten times faster than ndimage.uniform_filter here."""
    if size == 1:
        return values
    h, w = values.shape
    padded = np.pad(values, size // 2, mode="edge")
    rows = padded[:h].copy()
    for dy in range(1, size):
        rows += padded[dy:dy + h]
    out = rows[:, :w].copy()
    for dx in range(1, size):
        out += rows[:, dx:dx + w]
    out *= np.float32(1.0 / (size * size))
    return out


def find_seeds(foreground: np.ndarray, distance: np.ndarray, boundary: np.ndarray | None,
               settings: DecodeSettings) -> np.ndarray:
    """Seed label map (0 = no seed); every foreground region holds at least one seed."""
    core = foreground & (distance >= settings.seed)
    if boundary is not None:
        core &= boundary < settings.boundary
    seeds, count = ndimage.label(core)
    keep = np.bincount(seeds.ravel(), minlength=count + 1) >= settings.min_seed_area
    keep[0] = False
    if not keep[1:].all():
        seeds = _renumber(seeds, keep)
        core = seeds > 0
    regions, region_count = ndimage.label(foreground, EIGHT_CONNECTED)
    seeded = np.zeros(region_count + 1, bool)
    seeded[regions[core]] = True
    unseeded = ~seeded
    unseeded[0] = False
    if not unseeded.any():
        return seeds
    # A foreground region without a seed (a small or flat object) becomes one seed of its own.
    extra = np.zeros(region_count + 1, np.int32)
    extra[unseeded] = np.arange(1, int(unseeded.sum()) + 1) + int(keep.sum())
    return (seeds + extra[regions]).astype(np.int32, copy=False)  # extra is 0 in every seeded region


def _renumber(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Keeps the ids where keep[id] is True, renumbered 1..N in id order; the rest become 0."""
    mapping = np.zeros(keep.size, np.int32)
    mapping[keep] = np.arange(1, int(keep.sum()) + 1)
    return mapping[labels]


# ---- assignment of foreground pixels to seeds --------------------------------------------------

EIGHT_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
MAX_JUMPS = 32  # pointer jumping doubles the path followed each time: 2**32 pixels is plenty


def uphill_steps(foreground: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """For each pixel, the flat-index offset to its highest 8-neighbour when that neighbour is
    strictly higher, else 0. Background is lower than any object pixel, so paths stay inside
    the foreground. Arithmetic instead of np.where: masked selects are several times slower."""
    h, w = distance.shape
    padded = np.full((h + 2, w + 2), -2.0, np.float32)
    padded[1:-1, 1:-1] = distance * foreground - (~foreground)
    best = padded[1:-1, 1:-1].copy()
    step = np.zeros((h, w), np.int32)
    for dy, dx in EIGHT_STEPS:
        neighbour = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        higher = neighbour > best
        best = np.maximum(best, neighbour)
        step += (dy * w + dx - step) * higher
    return step


def largest_four_neighbour(ids: np.ndarray) -> np.ndarray:
    """Each pixel's largest id among its 4 neighbours (0 beyond the border); four shifted
    maxima, several times faster than a footprint dilation."""
    padded = np.pad(ids, 1)
    return np.maximum(np.maximum(padded[:-2, 1:-1], padded[2:, 1:-1]), np.maximum(padded[1:-1, :-2], padded[1:-1, 2:]))


def adopt_islands(labels: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Unlabelled foreground islands each take the label most common on their outer rim, in one
    vectorized pass. An island with no labelled pixel on its rim stays 0."""
    islands, count = ndimage.label(foreground & (labels == 0))
    if count == 0:
        return labels
    rim = largest_four_neighbour(islands) * (labels > 0)  # labelled pixels are never island pixels
    touched = np.flatnonzero(rim)
    width = int(labels.max()) + 1
    votes = np.bincount(rim.ravel()[touched].astype(np.int64) * width + labels.ravel()[touched],
                        minlength=(count + 1) * width).reshape(count + 1, -1)
    choice = votes.argmax(axis=1).astype(labels.dtype)
    choice[0] = 0
    return labels + choice[islands]  # islands are where labels are 0, and choice[0] is 0


def assign_watershed(seeds: np.ndarray, foreground: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Watershed basins of the distance map by steepest ascent: each foreground pixel follows its
    highest neighbour uphill (pointer jumping, log-many vectorized steps) and joins the seed it
    climbs into, so touching objects split along the distance valley between them. Pixels that
    climb to a peak or plateau outside every seed join the object most common on their
    rim. (scipy's ndimage.watershed_ift is not used: on these maps one marker floods its
    neighbours' basins.)"""
    h, w = seeds.shape
    flat_seeds = seeds.ravel()
    climbing = np.flatnonzero(foreground.ravel() & (flat_seeds == 0))  # seeds and background stay put
    parent = np.arange(h * w, dtype=np.int32)
    parent[climbing] += uphill_steps(foreground, distance).ravel()[climbing]
    for _ in range(MAX_JUMPS):  # only pixels whose pointer still moves take part in the next jump
        now = parent[climbing]
        jumped = parent[now]
        parent[climbing] = jumped
        climbing = climbing[jumped != now]
        if climbing.size == 0:
            break
    labels = flat_seeds[parent].reshape(h, w)  # background never moves and holds no seed: it stays 0
    return adopt_islands(labels, foreground)


def assign_nearest(seeds: np.ndarray, foreground: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Each foreground pixel takes the id of the nearest seed pixel of its own region. Regions
    with one seed (most of them) cost one lookup; only regions with several run a distance transform."""
    regions, count = ndimage.label(foreground, EIGHT_CONNECTED)
    inside = seeds > 0
    pairs = np.unique(np.stack([regions[inside], seeds[inside]]), axis=1)
    seeds_per_region = np.bincount(pairs[0], minlength=count + 1)
    only_seed = np.zeros(count + 1, np.int32)
    single = seeds_per_region[pairs[0]] == 1
    only_seed[pairs[0][single]] = pairs[1][single]
    out = only_seed[regions]
    for region, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None or seeds_per_region[region] < 2:
            continue
        mine = regions[box] == region
        local = np.where(mine, seeds[box], 0)
        nearest = ndimage.distance_transform_edt(local == 0, return_distances=False, return_indices=True)
        out[box][mine] = local[nearest[0], nearest[1]][mine]
    return out.astype(np.int32)


ASSIGNERS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "watershed": assign_watershed,
    "nearest": assign_nearest,
}


# ---- decoding ---------------------------------------------------------------------------------

def decode(probs: np.ndarray, settings: DecodeSettings | None = None, size: tuple[int, int] | None = None,
           grid: tuple[int, int] | None = None) -> Instances:
    """probs: H x W x C (C = 2 or 3) network output. size: decode at this (height, width),
    resizing the probabilities bilinearly first (the image's own size). grid: the (height, width)
    that min_area and min_seed_area count pixels of; defaults to the size of `probs` as given."""
    settings = settings or DecodeSettings()
    probs = np.asarray(probs, np.float32)
    if probs.ndim != 3 or probs.shape[-1] not in (2, 3):
        raise UsageError(f"instance decoding needs H x W x 2 or 3 channels ({', '.join(CHANNEL_NAMES)}), "
                         f"got shape {probs.shape}")
    grid = grid or probs.shape[:2]
    if size is not None and tuple(size) != probs.shape[:2]:
        probs = resize_image(probs, int(size[0]), int(size[1]))
    scale = probs.shape[0] * probs.shape[1] / float(grid[0] * grid[1])
    if scale != 1.0:
        settings = dataclasses.replace(settings, min_seed_area=max(1, round(settings.min_seed_area * scale)),
                                       min_area=max(1, round(settings.min_area * scale)),
                                       smooth=scaled_window(settings.smooth, scale))
    score, distance = (np.ascontiguousarray(probs[..., c]) for c in (0, 1))  # strided views are slow to read
    distance = box_mean(distance, settings.smooth)
    boundary = probs[..., 2] if probs.shape[-1] > 2 else None
    foreground = above_threshold(score, settings.foreground)
    seeds = find_seeds(foreground, distance, boundary, settings)
    labels = ASSIGNERS[settings.method](seeds, foreground, distance)
    areas = np.bincount(labels.ravel(), minlength=int(labels.max(initial=0)) + 1)
    keep = areas >= settings.min_area
    keep[0] = False
    if not keep[1:].all():  # ids are 1..N already: renumber only when an instance is dropped
        labels = _renumber(labels, keep)
        areas = np.append(0, areas[keep])
    return Instances(labels, records(labels, score, areas))


def scaled_window(size: int, area_scale: float) -> int:
    """A smoothing window of `size` output-grid pixels at a decoding size `area_scale` times the
    grid's area: the nearest odd side (at least 1), so it covers the same part of the image."""
    if size == 1:
        return 1
    return min(MAX_SMOOTH, max(1, 2 * round((size * area_scale ** 0.5 - 1) / 2) + 1))


def records(labels: np.ndarray, score_map: np.ndarray, area: np.ndarray | None = None) -> tuple[InstanceRecord, ...]:
    """Per-instance area, box, centroid and mean score, by bincount (one pass per quantity).
    `area`: the pixel count per id (index 0 the background), when the caller has it."""
    count = int(labels.max(initial=0))
    if count == 0:
        return ()
    pixels = np.flatnonzero(labels)  # objects only: background is most of a typical image
    ids = labels.ravel()[pixels]
    ys = pixels // labels.shape[1]
    xs = pixels - ys * labels.shape[1]  # cheaper than divmod
    if area is None:
        area = np.bincount(ids, minlength=count + 1)
    per_pixel = np.maximum(area, 1)
    cy = np.bincount(ids, ys, minlength=count + 1) / per_pixel
    cx = np.bincount(ids, xs, minlength=count + 1) / per_pixel
    score = np.bincount(ids, score_map.ravel()[pixels], minlength=count + 1) / per_pixel
    out = []
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        out.append(InstanceRecord(i, int(area[i]), (box[0].start, box[1].start, box[0].stop, box[1].stop),
                                  (round(float(cy[i]), 2), round(float(cx[i]), 2)), round(float(score[i]), 4)))
    return tuple(out)


def instance_colours(labels: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8: black background, each instance id its own bright colour (fixed per id,
    spread by the golden ratio so neighbouring ids differ)."""
    ids = np.arange(int(labels.max(initial=0)) + 1)
    hue = (ids * 0.618033988749895) % 1.0
    sector = hue[:, None] * 6.0 - np.array([0.0, 2.0, 4.0])  # r, g, b phases
    rgb = np.clip(np.abs((sector % 6.0) - 3.0) - 1.0, 0.0, 1.0)  # HSV hue at full saturation
    palette = (64 + 191 * rgb).astype(np.uint8)
    palette[0] = 0
    return palette[labels]
