"""Command line for the device side: `predict`, `bundle` and `edgetpu-check`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import EDGETPU_RUNTIME, NORMALIZE_CHOICES


def _cmd_predict(a: argparse.Namespace) -> int:
    from ..deploy.load import load_segmenter
    from ..errors import UsageError
    from ..outputs import check_output_dir
    from ..safety import claim_output, finite

    if a.max_frames is not None and a.max_frames < 1:
        raise UsageError("--max-frames must be >= 1")
    if a.threads is not None and a.threads < 1:
        raise UsageError("--threads must be >= 1")
    finite("--threads", a.threads)
    finite("--max-frames", a.max_frames)
    check_output_dir(Path(a.out), a.force, inputs=[a.model, *a.inputs])
    with claim_output(Path(a.out)):
        return _predict(a, load_segmenter)


def _predict(a: argparse.Namespace, load_segmenter) -> int:
    from ..deploy.predict import collect_sources, predict_all

    collect_sources(a.inputs)  # a typo in an input fails before the model loads
    segmenter = load_segmenter(Path(a.model), a.threads, a.normalize)
    print(f"{a.model}: {segmenter.spec.height}x{segmenter.spec.width}x{segmenter.spec.channels} input, "
          f"normalize {segmenter.spec.normalize} ({segmenter.spec_source})", file=sys.stderr)
    count = predict_all(segmenter, a.inputs, Path(a.out), overlay=a.overlay, tile=a.tile, force=a.force,
                        max_frames=a.max_frames)
    print(f"wrote {count} mask(s) to {a.out}")
    return 0


def _cmd_bundle(a: argparse.Namespace) -> int:
    from ..deploy.bundle import default_bundle_path, make_bundle

    out = Path(a.out) if a.out else default_bundle_path(Path(a.compress_dir))
    manifest = make_bundle(Path(a.compress_dir), a.artifact, out, Path(a.bench) if a.bench else None,
                           force=a.force, allow_undeployable=a.allow_undeployable)
    model = manifest["model"]
    print(f"wrote {out}: {model['file']} ({model['precision']}, sha256 {model['sha256'][:12]}...), "
          f"Dice {manifest['measured']['dice']:.4f}")
    return 0


def _cmd_edgetpu_check(a: argparse.Namespace) -> int:
    from ..artifacts.edgetpu import check, render

    from ..artifacts.edgetpu import RUNTIME_VERSIONS
    from ..errors import UsageError

    if a.runtime_version not in RUNTIME_VERSIONS:
        raise UsageError(f"--runtime-version {a.runtime_version} is not an Edge TPU runtime version; "
                         f"choose {RUNTIME_VERSIONS[0]} to {RUNTIME_VERSIONS[-1]}")
    report = check(Path(a.model), a.runtime_version)
    print(render(report))
    return 0 if report.ready else 3


def add_deploy_parsers(sub) -> None:
    p = sub.add_parser("predict", help="masks for images, folders, videos or a camera (no TensorFlow needed)")
    p.add_argument("model", help="a .tflite or .onnx model, or a bundle.zip from `edgeseg bundle`")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders of images, video files, or a camera index")
    p.add_argument("--out", required=True, help="output directory for the mask PNGs")
    p.add_argument("--overlay", action="store_true", help="also write original | mask | overlay figures")
    p.add_argument("--tile", action="store_true", help="sliding windows at native resolution for large images")
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None, help="for models without a stored spec")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-frames", type=int, default=None, help="stop videos and cameras after N frames")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=_cmd_predict)

    u = sub.add_parser("bundle", help="a deploy zip: model, manifest.json (sha256, I/O, spec, measured Dice) and README")
    u.add_argument("compress_dir", metavar="COMPRESS_OUT_DIR")
    u.add_argument("--artifact", default=None, metavar="PATH",
                   help="an artifact path as listed in report.json (default: the one compress recommended)")
    u.add_argument("--out", default=None, help="bundle.zip to write (default: COMPRESS_OUT_DIR_bundle.zip beside it)")
    u.add_argument("--bench", metavar="F.json", help="a bench JSON whose latency rows for the artifact go in the manifest")
    u.add_argument("--allow-undeployable", action="store_true", help="bundle an artifact that missed the Dice budget")
    u.add_argument("--force", action="store_true")
    u.set_defaults(func=_cmd_bundle)

    k = sub.add_parser("edgetpu-check", help="which ops of a .tflite would run on the Edge TPU, and why not (exit 3 if any)")
    k.add_argument("model")
    k.add_argument("--runtime-version", type=int, default=EDGETPU_RUNTIME, help="Edge TPU runtime version to check against")
    k.set_defaults(func=_cmd_edgetpu_check)
