"""Command line for `edgeseg bench` and `edgeseg bench merge`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import NORMALIZE_CHOICES

# pq gates instance rows only (semantic rows have no PQ, instance rows no Dice).
DEFAULT_FAIL_ON = "latency=+10%,dice=-0.005,pq=-0.01,size=+2%"


def _bench_outputs(a: argparse.Namespace):
    from ..bench.run import Outputs

    inputs = (*getattr(a, "artifacts", ()), *getattr(a, "files", ()), getattr(a, "data", None),
              getattr(a, "baseline", None))
    return Outputs(*(Path(p) if p else None for p in (a.json, a.csv, a.md, a.plot)), force=a.force, inputs=inputs,
                   show_unavailable=getattr(a, "show_unavailable", False))


def _cmd_bench(a: argparse.Namespace) -> int:
    from ..bench.gate import check_baseline, compare, parse_fail_on
    from ..bench.report import load_bench, render_terminal
    from ..bench.run import bench, write_outputs
    from .common import data_config
    from ..config import BenchConfig
    from ..errors import UsageError

    if a.profile_runs < 1:
        raise UsageError(f"--profile-runs must be at least 1, got {a.profile_runs}")
    if (a.fail_on or a.reference) and not a.baseline:
        raise UsageError("--fail-on and --reference need --baseline FILE")
    tolerances = parse_fail_on(a.fail_on or DEFAULT_FAIL_ON) if a.baseline else None
    baseline = load_bench(Path(a.baseline)) if a.baseline else None
    if baseline is not None and baseline.machines is not None:
        raise UsageError(f"{a.baseline} is a merged file; give the bench JSON of one run as --baseline")
    if baseline is not None:
        check_baseline(baseline, a.baseline)
    runtimes = tuple(n.strip() for n in a.runtimes.split(",") if n.strip())
    config = BenchConfig(data=data_config(a), normalize=a.normalize, runtimes=runtimes, threads=a.threads,
                         warmup=a.warmup, min_runs=a.min_runs, min_time=a.min_time)
    outputs = _bench_outputs(a)
    outputs.check()
    report = bench([Path(p) for p in a.artifacts], config)
    print("\n" + render_terminal(report, show_unavailable=a.show_unavailable))
    if a.profile:
        from ..bench.profile import add_profiles, render_profile

        report = add_profiles(report, [Path(p) for p in a.artifacts], runs=a.profile_runs)
        print("\n" + render_profile(report))
    for path in write_outputs(report, outputs):
        print(f"wrote {path}")
    if baseline is None:
        return 0
    regressions, notes = compare(report.to_dict(), baseline.to_dict(), tolerances, a.reference)  # gate reads JSON
    for note in notes:
        print(f"gate: note: {note}")
    for line in regressions:
        print(f"gate: REGRESSION: {line}")
    print(f"gate: {len(regressions)} regression(s) against {a.baseline}")
    return 1 if regressions else 0


def _cmd_bench_merge(a: argparse.Namespace) -> int:
    from ..bench.merge import merge
    from ..bench.report import render_terminal
    from ..bench.run import write_outputs

    outputs = _bench_outputs(a)
    outputs.check()
    report = merge([Path(p) for p in a.files], describe_machines=a.md is not None)
    print(render_terminal(report, with_machine=True, show_unavailable=a.show_unavailable))
    for path in write_outputs(report, outputs, with_machine=True):
        print(f"wrote {path}")
    return 0


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="F", help="write every field as JSON (schema edgeseg.bench/1)")
    p.add_argument("--csv", metavar="F")
    p.add_argument("--md", metavar="F", help="Markdown table")
    p.add_argument("--plot", metavar="F.png", help="p50 latency (p90 whiskers) against Dice; needs matplotlib")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--show-unavailable", action="store_true",
                   help="list rows of runtimes that are not here in the tables (default: one footnote per runtime)")



def add_bench_parsers(sub, data_args) -> None:
    b = sub.add_parser("bench", help="latency, size and Dice of artifacts on every available runtime "
                                     "(also: edgeseg bench merge A.json B.json ...)")
    b.add_argument("artifacts", nargs="+", metavar="ARTIFACT_OR_COMPRESS_DIR",
                   help="artifact files, or compress output directories (their data is used unless --data)")
    data_args(b, default=None)
    b.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None,
                   help="for artifacts without a compress report beside them; 0-1 when not given")
    b.add_argument("--runtimes", default="auto", help="auto, or a comma-separated list, e.g. litert-cpu,ort-cpu")
    b.add_argument("--threads", type=int, default=None, help="CPU threads per runtime (default: every core)")
    b.add_argument("--warmup", type=int, default=5, help="untimed runs per row before timing")
    b.add_argument("--min-runs", type=int, default=30, help="at least this many timed runs per row")
    b.add_argument("--min-time", type=float, default=2.0, help="at least this many seconds of timed runs per row")
    b.add_argument("--profile", action="store_true",
                   help="after timing, per-op time of every row (litert-cpu: each op run alone; ort-cpu: its "
                        "profiler) with shapes, MACs, GMAC/s and whether XNNPACK ran it; a table and the JSON")
    b.add_argument("--profile-runs", type=int, default=20, help="timed runs per op (or per model) when profiling")
    _output_args(b)
    b.add_argument("--baseline", metavar="F", help="a bench JSON to compare with (the CI gate); exit 1 on regression")
    b.add_argument("--fail-on", metavar="SPEC",
                   help=f"limits, default {DEFAULT_FAIL_ON.replace('%', '%%')} (pq: instance models)")
    b.add_argument("--reference", metavar="NAME",
                   help="artifact whose p50 latency is divided out (default: each runtime's float32 model)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=_cmd_bench)

    bm = sub.add_parser("bench-merge", prog="edgeseg bench merge",
                        help="(also spelled `bench merge`) one table and plot over bench files from several machines")
    bm.add_argument("files", nargs="+", metavar="BENCH.json")
    _output_args(bm)
    bm.set_defaults(func=_cmd_bench_merge)
