"""bench for instance models (spec task "instance"): the rows are scored by PQ and F1@0.5 instead
of Dice, and the device-side decoding of each artifact's own outputs is timed beside its network,
interleaved with it, so the table shows what decoding adds on the same machine at the same time.

Nothing here imports TensorFlow: decoding is the deploy package's numpy/scipy decoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..config import DataConfig, PreprocessSpec
from ..data.dataset import SegmentationData
from ..instances.decode import DecodeSettings, decode
from ..instances.scoring import Predictor, predict_all, score_outputs
from ..metrics.instance import SCORE_KEYS

# Outputs kept per row for timing the decoder: enough images for decode time to average over
# object counts, few enough that a 256x256x3 float map per image stays small (~50 MB at most).
MAX_DECODE_OUTPUTS = 64

Decoder = Callable[[np.ndarray, DecodeSettings], object]


def is_instance(spec: PreprocessSpec) -> bool:
    return spec.task == "instance"


def load_validation(config: DataConfig, spec: PreprocessSpec) -> SegmentationData:
    """The validation split as the spec's task reads it."""
    from ..data.instance_data import load_task_splits

    return load_task_splits(config, spec)[1]


@dataclass
class DecodeTimer:
    """Decodes one of an artifact's own outputs per call, cycling through them, with the settings
    stored in its spec. `decoder` is the device-side decode; tests pass one on a scripted clock."""

    outputs: list[np.ndarray]
    settings: DecodeSettings
    decoder: Decoder = decode
    samples_ns: list[int] = field(default_factory=list, repr=False)
    _next: int = 0

    def decode_next(self) -> None:
        self.decoder(self.outputs[self._next % len(self.outputs)], self.settings)
        self._next += 1


def artifact_decode_settings(own: dict | None, data: SegmentationData) -> DecodeSettings:
    """The artifact's own stored settings (compress may have re-tuned them for it), else the
    shared spec's, else the decoder's defaults."""
    return DecodeSettings.from_dict(own if isinstance(own, dict) else data.spec.decode)


def score_instance_row(predict: Predictor, data: SegmentationData, batch_size: int, settings: DecodeSettings,
                       decoder: Decoder = decode) -> tuple[dict, DecodeTimer]:
    """(instance scores of `predict` on `data`, decoded with `settings`; a timer that decodes the
    same outputs the same way). The network runs once per image."""
    outputs, truths = predict_all(predict, data, batch_size)
    scores = {k: v for k, v in score_outputs(outputs, truths, settings).items()
              if k in SCORE_KEYS or k in ("images", "true_objects", "pred_objects")}
    scores["decode_settings"] = settings.to_dict()
    return scores, DecodeTimer(outputs[:MAX_DECODE_OUTPUTS], settings, decoder)


def instance_fields(scores: dict, decode_stats) -> dict:
    """The instance columns of a row: scores and the decoder's p50/p90 (None where not measured)."""
    row = {k: scores.get(k) for k in (*SCORE_KEYS, "true_objects", "pred_objects", "decode_settings")}
    row |= {"decode_ms": decode_stats.p50_ms if decode_stats else None,
            "decode_p90_ms": decode_stats.p90_ms if decode_stats else None,
            "decode_runs": decode_stats.runs if decode_stats else None}
    return row


def with_decode_share(row: dict) -> dict:
    """The row with decode_share: decode p50 / network p50, None where either is missing."""
    return row | {"decode_share": decode_share(row)}


def decode_share(row: dict) -> float | None:
    """Decode p50 as a fraction of the network's p50: what decoding adds to each image."""
    if row.get("decode_ms") is None or not row.get("p50_ms"):
        return None
    return row["decode_ms"] / row["p50_ms"]


def describe_scores(scores: dict) -> str:
    return (f"PQ {scores['pq']:.4f}, F1@0.5 {scores['f1']:.4f} ({scores['pred_objects']} found, "
            f"{scores['true_objects']} true) on {scores['images']} images, decoded with its stored "
            f"settings ({scores['decode_settings']['method']})")
