"""The accuracy budget: the one place that decides whether an artifact may ship, and the one
wording of every reason it may not."""
from __future__ import annotations

from dataclasses import dataclass

SPARSITY_TOLERANCE = 0.01


@dataclass(frozen=True)
class Budget:
    """Artifacts may lose at most `max_drop` Dice against the float model's `baseline`.

    `baseline_problem` is set when the float model itself failed its sanity check on this
    data: nothing is deployable against a baseline that makes no sense."""

    baseline: float
    max_drop: float
    baseline_problem: str | None = None

    @property
    def floor(self) -> float:
        return self.baseline - self.max_drop

    def admits(self, dice: float | None) -> bool:
        return self.baseline_problem is None and dice is not None and dice >= self.floor

    def miss(self, dice: float | None, tried: tuple[str, ...] = ()) -> str:
        """Why `dice` is outside the budget."""
        if self.baseline_problem is not None:
            return f"the float baseline failed its check: {self.baseline_problem}"
        if dice is None:
            return "not measured"
        after = f" after trying {', '.join(tried)}" if tried else ""
        return (f"Dice {dice:.4f} is below the floor {self.floor:.4f} (baseline {self.baseline:.4f} - "
                f"budget {self.max_drop}){after}")

    def source_miss(self, label: str, dice: float, fix: str) -> str:
        """Why a pruned source's artifacts cannot ship: quantization cannot win back what pruning lost."""
        return (f"{label} alone dropped Dice to {dice:.4f} (baseline {self.baseline:.4f}, budget {self.max_drop}); "
                f"fine-tune longer or {fix}")

    def judge(self, dice: float | None, *, method: str | None = None, tried: tuple[str, ...] = (),
              source_label: str | None = None, source_dice: float | None = None, source_fix: str = "",
              sparsity: float | None = None, target_sparsity: float | None = None) -> tuple[bool, str]:
        """(deployable, reason) for one artifact, every rule in one place and in order."""
        if not self.admits(dice):
            if source_label and source_dice is not None and not self.admits(source_dice):
                return False, self.source_miss(source_label, source_dice, source_fix)
            return False, self.miss(dice, tried)
        if target_sparsity is not None and sparsity is not None:
            gap = abs(sparsity - target_sparsity)
            if gap > SPARSITY_TOLERANCE:
                return False, f"measured sparsity {sparsity:.4f} is {gap:.4f} from the target {target_sparsity}"
        return True, f"within budget with {method}" if method else "within budget"
