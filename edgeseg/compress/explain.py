"""Where int8 hurts, for each int8 artifact compress makes: per layer, its int8 error against
float (always: it reuses the shared calibration and costs seconds) and, with --explain, the score
lost when that layer alone is in int8 (every other layer float; scored on the validation images by
the budget's metric: Dice, or PQ for instance models), a plot of both in graph order, and a heatmap
of where the int8 mask (an instance model's foreground) differs from the float mask.
When the mixed-precision rung made the artifact, the section names the layers it kept in float,
the share of MACs still in int8 and the latency against full int8, timed interleaved."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

import numpy as np

from ..scoring.budget import METRIC_LABELS

EXPLAIN_DIR = "explain"
TIMING_THREADS = 2


def artifact_scorer(ctx, source) -> Callable[[str, bytes], float]:
    """(format, bytes) -> the budget's score of that artifact on the validation images, in its runtime,
    with the spec stored in TFLite bytes as in a shipped artifact (ONNX candidates carry it already)."""
    from ..artifacts.tflite import finalize

    def score(fmt: str, data: bytes) -> float:
        probe = ctx.out / f".{source.prefix}.probe.{fmt}"
        try:
            probe.write_bytes(finalize(data, ctx.spec) if fmt == "tflite" else data)
            value = ctx.budget.value(ctx.score(source)(probe).scores)
        finally:
            probe.unlink(missing_ok=True)
        return -1.0 if value is None else float(value)

    return score


def disagreement(float_masks: np.ndarray, int8_masks: np.ndarray) -> np.ndarray:
    """(H, W): the share of validation images whose int8 label differs from float at each pixel."""
    return (np.asarray(float_masks) != np.asarray(int8_masks)).mean(axis=0)


def _layers(info: dict, float_layers: list[str]) -> list[dict]:
    dice = info.get("dice") or {}
    return [{**g.to_dict(), **info["errors"].get(g.name, {}), "dice_cost": dice.get(g.name),
             "kept_float": g.name in float_layers} for g in info["groups"]]


def _masks(ctx, source, session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images = np.concatenate([b[0] for b in ctx.val.batches(ctx.config.batch_size)])
    spec, masks = ctx.val.spec, ctx.task.masks
    reference = masks(np.asarray(source.reference(images)), spec)
    int8 = np.concatenate([masks(np.asarray(session.run(images[i:i + ctx.config.batch_size])), spec)
                           for i in range(0, len(images), ctx.config.batch_size)])
    return images, reference, int8


def _latency(plain: bytes, mixed: Path, work: Path, image: np.ndarray) -> dict:
    from ..runtimes.litert import LiteRTCPU
    from ..search.timing import measure_interleaved

    plain_path = work / f".{mixed.stem}.full_int8.tflite"
    try:
        plain_path.write_bytes(plain)
        runtime = LiteRTCPU()
        p50 = measure_interleaved([plain_path, mixed], lambda p: runtime.load(p, threads=TIMING_THREADS), image,
                                  min_seconds=4.0)  # 2 s gave 1.43x where 6 s gave 1.18x on this shared machine
    finally:
        plain_path.unlink(missing_ok=True)
    return {"runtime": "litert-cpu", "threads": TIMING_THREADS, "full_int8_p50_ms": round(p50[0], 4),
            "mixed_p50_ms": round(p50[1], 4), "ratio": round(p50[1] / p50[0], 3)}


def explain_artifact(ctx, target, record, quantizer, session) -> dict:
    """The explain section of one int8 artifact (its record's "explain")."""
    import time

    from ..quantize.sensitivity import ERROR_IMAGES

    start = time.perf_counter()
    fmt, method = target.format, record.method
    repair = quantizer.repairs.get(fmt) if method == "mixed" else None
    float_layers = (repair or {}).get("float_layers", [])
    section: dict = {"method": method, "repaired_layers": float_layers, "metric": ctx.budget.metric}
    label = ctx.budget.label
    try:
        info = quantizer.sensitivity(measure_dice=ctx.config.explain)
        section["layers"] = _layers(info, float_layers)
        section["dice_full_int8"] = info.get("full_int8")
        section["layer_error"] = ("TFLite converter's QuantizationDebugger: each op's int8 output against "
                                  "float on the dequantized int8 input (the layer's own error), on the first "
                                  f"{min(ERROR_IMAGES, len(quantizer.calibration))} calibration images; "
                                  "rmse_steps = RMSE / output scale")
        if info.get("dice"):
            section["dice_all_float"] = info.get("all_float")
            section["dice_cost"] = (f"{label} lost when the layer alone is in int8 (every other layer float), "
                                    "on the validation images; these files, and dice_full_int8, are the "
                                    "converter's (its denylist), while the shipped ptq file is litert-quantizer's")
    except Exception as exc:  # the section says why it is missing; the artifact stands
        from ..errors import describe

        section["layers_unavailable"] = describe(exc)
    if repair is not None:
        section["repair"] = {k: v for k, v in repair.items() if k != "trail"} | {"steps": repair["trail"]}
    if repair is not None and fmt == "tflite" and target.io == "int8":
        from ..quantize.tflite_int8 import quantize_calibrated

        image = ctx.val.batch([0])[0].astype(np.float32)
        section["repair"]["latency"] = _latency(quantize_calibrated(quantizer.calibrated("ptq"), True),
                                                ctx.out / target.filename, ctx.out, image)
    if ctx.config.explain and session is not None:
        images, reference, int8 = _masks(ctx, source_of(ctx, target), session)
        heat = disagreement(reference, int8)
        section["disagreement_share"] = float(heat.mean())
        stem = target.filename.replace(".", "_")  # model_int8.tflite and model_int8.onnx get their own plots
        section.update(_plots(ctx.out, stem, section.get("layers") if fmt == "tflite" else None, images,
                              reference, int8, heat, label))
    section["seconds"] = round(time.perf_counter() - start, 2)  # the report's own cost (the rung's is in attempts)
    return section


def source_of(ctx, target):
    return ctx.sources[target.source]


def _plots(out: Path, stem: str, layers, images, reference, int8, heat, label: str = "Dice") -> dict:
    if importlib.util.find_spec("matplotlib") is None:
        return {"plots_unavailable": "matplotlib is not installed (pip install edgeseg[plot])"}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / EXPLAIN_DIR
    folder.mkdir(exist_ok=True)
    written = {}
    if layers:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.45 * len(layers)), 6), sharex=True)
        x = np.arange(len(layers))
        colors = ["tab:red" if layer["kept_float"] else "tab:blue" for layer in layers]
        top.bar(x, [layer.get("rmse_steps") or 0 for layer in layers], color=colors)
        top.set_ylabel("int8 error (RMSE / scale)")
        bottom.bar(x, [layer.get("dice_cost") or 0 for layer in layers], color=colors)
        bottom.set_ylabel(f"{label} lost, alone in int8")
        bottom.set_xticks(x, [layer["name"] for layer in layers], rotation=70, fontsize=7)
        top.set_title("per layer, graph order (red: kept in float by the repair)")
        fig.tight_layout()
        written["plot"] = _save(fig, folder / f"{stem}_layers.png", out)
        plt.close(fig)
    worst = np.argsort([-(r != q).sum() for r, q in zip(reference, int8)])[:3]
    fig, axes = plt.subplots(1, len(worst) + 1, figsize=(3 * (len(worst) + 1), 3.2))
    for ax, i in zip(axes, worst):
        ax.imshow(images[i].mean(axis=-1), cmap="gray")
        ax.imshow(np.ma.masked_where(reference[i] == int8[i], np.ones_like(heat)), cmap="autumn", alpha=0.8)
        ax.set_title(f"val image {i}: {int((reference[i] != int8[i]).sum())} px differ", fontsize=8)
        ax.axis("off")
    shown = axes[-1].imshow(heat, cmap="magma", vmin=0)
    axes[-1].set_title("share of images differing", fontsize=8)
    axes[-1].axis("off")
    fig.colorbar(shown, ax=axes[-1], fraction=0.046)
    fig.tight_layout()
    written["heatmap"] = _save(fig, folder / f"{stem}_disagreement.png", out)
    plt.close(fig)
    return written


def _save(fig, path: Path, out: Path) -> str:
    fig.savefig(path, dpi=90)
    return str(path.relative_to(out))


def explain_lines(report) -> list[str]:
    """report.md's section (of a CompressReport): one table per int8 artifact that has one."""
    lines = []
    for a in report.artifacts:
        ex = a.explain.to_dict() if a.explain else None
        if not ex or not ex.get("layers"):
            continue
        lines += ["", f"### Where int8 hurts: {a.path} ({ex['method']})", ""]
        repair = ex.get("repair")
        if repair:
            latency = repair.get("latency")
            lines += [f"Repair kept in float: {', '.join(repair['float_layers']) or 'nothing'}; "
                      f"{repair['int8_mac_share']:.1%} of MACs in int8" +
                      (f"; p50 {latency['mixed_p50_ms']} ms vs full int8 {latency['full_int8_p50_ms']} ms "
                       f"({latency['ratio']}x, {latency['runtime']}, {latency['threads']} threads, interleaved)"
                       if latency else "") + ".", ""]
        if a.format != "tflite":  # the same Keras layers, measured once on the TFLite int8 model
            lines += ["Per-layer error and Dice cost: measured on the TFLite int8 model (table above)."]
            lines += [f"![{key}]({ex[key]})" for key in ("plot", "heatmap") if ex.get(key)]
            continue
        label = METRIC_LABELS[ex.get("metric") or "dice"]
        lines += [f"| layer | MACs | int8 error (RMSE/scale) | {label} lost alone in int8 | kept float |",
                  "|---|---|---|---|---|"]
        for layer in ex["layers"]:
            err, cost = layer.get("rmse_steps"), layer.get("dice_cost")
            lines.append(f"| {layer['name']} | {layer['macs']:,} | {'-' if err is None else f'{err:.3f}'} | "
                         f"{'-' if cost is None else f'{cost:+.4f}'} | {'yes' if layer['kept_float'] else ''} |")
        for key in ("plot", "heatmap"):
            if ex.get(key):
                lines += ["", f"![{key}]({ex[key]})"]
    return lines
