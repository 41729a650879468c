"""One report row per artifact: where it is, what it is, what it scored and whether it may ship."""
from __future__ import annotations

from pathlib import Path

from .guard import Guarded
from .remedies import PRECISION
from .verify import Verified, gzip_size


def artifact_row(out: Path, path: Path, fmt: str, precision: str, verified: Verified | None, baseline_dice: float,
                 budget: float, sparsity: float | None = None, deployable: bool | None = None, reason: str = "",
                 **extra) -> dict:
    scores = verified.scores if verified else {}
    dice = scores.get("dice")
    if deployable is None:
        deployable = dice is not None and dice >= baseline_dice - budget
        if not reason:
            reason = "within budget" if deployable else f"Dice {dice:.4f} drops more than {budget} from {baseline_dice:.4f}"
    row = {"path": str(path.relative_to(out)), "format": fmt, "precision": precision, "sparsity": sparsity,
           "bytes": path.stat().st_size, "gzip_bytes": gzip_size(path), "dice": dice, "iou": scores.get("iou"),
           "dice_per_image": scores.get("dice_per_image"), "max_abs_diff": scores.get("max_abs_diff"),
           "mean_abs_diff": scores.get("mean_abs_diff"), "mask_agreement": scores.get("mask_agreement"),
           "runtime": verified.runtime if verified else None,
           "load_seconds": round(verified.load_seconds, 3) if verified else None,
           "deployable": bool(deployable), "reason": reason}
    if "dice_per_class" in scores:
        row["dice_per_class"] = scores["dice_per_class"]
    row.update(extra)
    return row


def guarded_row(out: Path, g: Guarded, fmt: str, baseline_dice: float, budget: float,
                sparsity_of=None, **extra) -> dict | None:
    if g.path is None:
        return None
    sparsity = sparsity_of(g.verified.session) if sparsity_of else None
    return artifact_row(out, g.path, fmt, PRECISION.get(g.method, "int8"), g.verified, baseline_dice, budget,
                        sparsity=sparsity, deployable=g.deployable, reason=g.reason, method=g.method,
                        attempts=[a.to_dict() for a in g.attempts], **extra)
