"""The --prune auto candidates as a picture: p50 against int8 Dice, the budget's floor drawn."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def plot_candidates(info: dict, floor: float, path: Path) -> Path | None:
    """Writes the plot when matplotlib (the `plot` extra) is installed; None otherwise."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for c in info["candidates"]:
        ax.scatter(c["p50_ms"], c["dice"], color="tab:green" if c["deployable"] else "tab:red")
        ax.annotate(f"{c['ratio']:.3g}{' (winner)' if c['ratio'] == info['winner'] else ''}",
                    (c["p50_ms"], c["dice"]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    if info.get("int8_p50_ms"):
        ax.axvline(info["int8_p50_ms"], color="grey", linestyle=":", label="plain int8 p50")
    ax.axhline(floor, color="grey", linestyle="--", label="Dice floor (budget)")
    ax.set_xlabel(f"p50 ms ({info['target']}, {info['threads']} threads)")
    ax.set_ylabel("int8 Dice")
    ax.set_title("--prune auto: channel ratio candidates")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
