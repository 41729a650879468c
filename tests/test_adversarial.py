"""The adversarial battery (issue 14): one table of hostile inputs, one test body.

Every case runs the CLI in-process and checks the contract in the README: exit code 2, no
traceback, a one-line error, nothing written or left behind (the case's folder is the same,
file for file and sha256 for sha256, before and after: inputs unchanged, no output, no lock,
no temporary), and no bundle temporary left in the system's temp folder. Cases that need
TensorFlow to load a model are marked slow; the rest fail before TensorFlow is imported."""
from __future__ import annotations

import gc
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from adversarial_helpers import tree
from adversarial_world import World, copy_into
from edgeseg.cli import main


@dataclass(frozen=True)
class Case:
    name: str
    argv: str  # shlex words; {name} is an input built by adversarial_world
    expect: str  # a piece of the one error line
    code: int = 2
    slow: bool = False


TRAIN = "train --preset tiny --epochs 1 --out {tmp}/m.keras"
COMPRESS = "compress {tmp}/absent.keras --out {tmp}/o"
BENCH = "bench {tmp}/absent.tflite"
PREDICT = "predict {tmp}/absent.tflite {img} --out {tmp}/o"
SYNTH = "data synth --out {tmp}/d --count 2 --size 16"
EVAL = "eval {tmp}/absent.keras"
NOT_FINITE = (("nan", "finite"), ("inf", "finite"), ("-inf", "finite"), ("1e999", "finite"))


def numeric(base: str, flag: str, values) -> list[Case]:
    return [Case(f"{base.split()[0]} {flag} {value}", f"{base} {flag}={value}", expect) for value, expect in values]


INVALID_INT = ("x", "invalid int value")
CASES: list[Case] = [
    # --- numbers: NaN, inf, out of range, over a limit, not a number ------------------------------
    *numeric(TRAIN, "--lr", NOT_FINITE + (("0", "> 0"), ("-1", "> 0"), ("100", "limit"), ("x", "invalid float"))),
    *numeric(TRAIN, "--val-fraction", NOT_FINITE[:2] + (("0", "val_fraction"), ("1", "val_fraction"), ("-0.5", "val_fraction"))),
    *numeric(TRAIN, "--dropout", NOT_FINITE[:2] + (("-0.1", ">= 0"), ("1.5", "limit"))),
    *numeric(TRAIN, "--epochs", (("0", ">= 1"), ("-1", ">= 1"), ("1000000000", "limit"), INVALID_INT)),
    *numeric(TRAIN, "--batch-size", (("0", ">= 1"), ("-3", ">= 1"), ("1000000", "limit"), INVALID_INT)),
    *numeric(TRAIN, "--patience", (("-1", ">= 0"), ("10000000", "limit"))),
    *numeric(TRAIN, "--synthetic-train", (("0", ">= 1"), ("100000000", "limit"))),
    *numeric(TRAIN, "--synthetic-val", (("0", ">= 1"), ("-4", ">= 1"))),
    *numeric(TRAIN, "--height", (("0", ">= 8"), ("5", ">= 8"), ("100000", "limit"))),
    *numeric(TRAIN, "--width", (("3", ">= 8"), ("99999", "limit"))),
    *numeric(TRAIN, "--channels", (("2", "unsupported input shape"), ("4", "unsupported input shape"))),
    *numeric(TRAIN, "--classes", (("0", ">= 1"), ("256", "limit of 255"), ("100000", "limit"))),
    *numeric(TRAIN, "--base-filters", (("0", ">= 1"), ("5000", "limit"))),
    *numeric(TRAIN, "--depth", (("0", ">= 1"), ("20", "limit"))),
    *numeric(COMPRESS, "--sparsity", NOT_FINITE[:3] + (("-0.1", "[0, 1)"), ("1", "[0, 1)"), ("1.5", "[0, 1)"))),
    *numeric(COMPRESS, "--max-dice-drop", NOT_FINITE[:2] + (("-1", "[0, 1]"), ("2", "[0, 1]"))),
    *numeric(COMPRESS + " --prune channels", "--channel-ratio", NOT_FINITE[:1] + (("0", "(0, 1)"), ("1", "(0, 1)"))),
    *numeric(COMPRESS, "--finetune-lr", NOT_FINITE[:2] + (("0", "> 0"), ("-1", "> 0"), ("1e6", "limit"))),
    *numeric(COMPRESS, "--finetune-steps", (("0", ">= 1"), ("1000000000", "limit"))),
    *numeric(COMPRESS, "--calibration-samples", (("0", ">= 1"), ("1000000000", "limit"))),
    *numeric(COMPRESS, "--batch-size", (("0", ">= 1"), ("100000", "limit"))),
    *numeric(COMPRESS, "--edgetpu-runtime", (("9", "10 to 16"), ("17", "10 to 16"), INVALID_INT)),
    *numeric(COMPRESS, "--val-fraction", NOT_FINITE[:1]),
    *numeric(COMPRESS, "--synthetic-val", (("0", ">= 1"),)),
    *numeric(BENCH, "--min-time", NOT_FINITE + (("-1", ">= 0"), ("1e9", "limit of 3600"))),
    *numeric(BENCH, "--min-runs", (("0", ">= 1"), ("1000000000", "limit"))),
    *numeric(BENCH, "--warmup", (("-1", ">= 0"), ("1000000000", "limit"))),
    *numeric(BENCH, "--threads", (("0", ">= 1"), ("-2", ">= 1"), ("5000", "limit"))),
    *numeric(PREDICT, "--threads", (("0", ">= 1"), ("-1", ">= 1"), ("5000", "limit"))),
    *numeric(PREDICT, "--max-frames", (("0", ">= 1"), ("-5", ">= 1"), ("1000000000000", "limit"))),
    *numeric(SYNTH, "--size", (("7", ">= 8"), ("30000", "limit of 4096"), ("1000000000", "limit"), INVALID_INT)),
    *numeric(SYNTH, "--count", (("0", ">= 1"), ("-1", ">= 1"), ("1000000000", "limit"))),
    *numeric(SYNTH, "--classes", (("0", ">= 1"), ("256", "limit of 255"), ("1000", "limit"))),
    *numeric(SYNTH, "--channels", (("2", "invalid choice"),)),
    *numeric(EVAL, "--batch-size", (("0", ">= 1"), ("-1", ">= 1"), ("1000000000", "limit"))),
    *numeric(EVAL, "--val-fraction", NOT_FINITE[:1]),
    *numeric("edgetpu-check {garbage_tflite}", "--runtime-version",
             (("9", "not an Edge TPU runtime"), ("17", "not an Edge TPU runtime"), ("99", "not an Edge TPU"),
              ("-1", "not an Edge TPU"), INVALID_INT)),
    # --- options and argparse --------------------------------------------------------------------
    Case("unknown command", "frobnicate", "invalid choice"),
    Case("train without --out", "train --preset tiny", "required: --out"),
    Case("unknown option", f"{TRAIN} --turbo", "unrecognized arguments"),
    Case("bad --normalize", f"{TRAIN} --normalize 0-255", "invalid choice"),
    Case("bad --arch", f"{TRAIN} --arch vgg", "invalid choice"),
    Case("bad preset", "train --preset huge --out {tmp}/m.keras", "unknown preset"),
    Case("bad --strategy", f"{TRAIN} --strategy tpu", "invalid choice"),
    Case("oversample with a strategy", f"{TRAIN} --strategy mirrored --balance oversample", "not supported"),
    Case("bad --prune", f"{COMPRESS} --prune random", "invalid choice"),
    Case("bench unknown runtime", f"{BENCH} --runtimes bogus", "unknown runtime"),
    Case("bench empty runtimes", f"{BENCH} --runtimes ,", "--runtimes"),
    Case("bench --fail-on without baseline", f"{BENCH} --fail-on latency=+5%", "need --baseline"),
    Case("bench --reference without baseline", f"{BENCH} --reference a", "need --baseline"),
    Case("bench --fail-on no percent", f"{BENCH} --baseline {{bench_ok}} --fail-on latency=10", "relative increase"),
    Case("bench --fail-on dice plus", f"{BENCH} --baseline {{bench_ok}} --fail-on dice=+0.1", "decrease"),
    Case("bench --fail-on unknown", f"{BENCH} --baseline {{bench_ok}} --fail-on speed=+1%", "cannot read"),
    Case("bench --fail-on twice", f"{BENCH} --baseline {{bench_ok}} --fail-on latency=+1%,latency=+2%", "twice"),
    Case("bench --fail-on empty", f"{BENCH} --baseline {{bench_ok}} --fail-on ,", "empty"),
    Case("predict bad --normalize", f"{PREDICT} --normalize 1-2", "invalid choice"),
    Case("camera without --max-frames", "predict {garbage_tflite} 0 --out {tmp}/o", "cannot load"),
    # --- outputs: overlapping inputs, existing, impossible ------------------------------------------
    Case("train out not .keras", "train --preset tiny --out {tmp}/m.txt", "must end in .keras"),
    Case("train out exists", "train --preset tiny --out {plain_keras}", "--force"),
    Case("train out is a folder", "train --preset tiny --out {emptydir}", "is a directory"),
    Case("train out inside data", "train --data {data} --preset tiny --out {data}/m.keras", "lies inside the input"),
    Case("train out inside data, force", "train --data {data} --preset tiny --out {data}/images/m.keras --force",
         "refused even with --force"),
    Case("train out under a file", "train --preset tiny --out {file}/m.keras", "not a directory"),
    Case("synth out exists", "data synth --out {nonempty}", "--force"),
    Case("synth out is a file", "data synth --out {file} --force", "not a directory"),
    Case("synth out under a file", "data synth --out {file}/d", "not a directory"),
    # flags that would do nothing together are refused, not ignored
    Case("compress sparsity with channels", COMPRESS + " --prune channels --sparsity 0.5", "is for --prune magnitude"),
    Case("compress ratio without channels", COMPRESS + " --channel-ratio 0.3", "is for --prune channels"),
    Case("compress target without auto", COMPRESS + " --target litert-cpu", "is for --prune auto"),
    Case("compress target not tflite", COMPRESS + " --prune auto --target ort-cpu", "runs TFLite"),
    Case("compress edgetpu without tflite", COMPRESS + " --formats onnx --edgetpu", "add tflite"),
    Case("compress qat without tflite", COMPRESS + " --formats onnx --qat", "add tflite"),
    Case("compress distill without pruning", COMPRESS + " --distill 0.5", "give --prune"),
    Case("compress negative seed", COMPRESS + " --seed -1", "--seed must be"),
    Case("train negative seed", "train --preset tiny --out {tmp}/m.keras --seed -1", "--seed must be"),
    Case("compress out is the model", "compress {plain_keras} --out {plain_keras} --force", "is the input"),
    Case("compress out holds the model", "compress {plain_keras} --out {tmp} --force", "holds the input"),
    Case("compress out is the data", "compress {plain_keras} --data {data} --out {data} --force", "is the input"),
    Case("compress out inside the data", "compress {plain_keras} --data {data} --out {data}/o", "lies inside"),
    Case("compress out is custom objects", "compress {plain_keras} --custom-objects {custom_exit} "
         "--out {custom_exit} --force", "is the input"),
    Case("compress out exists", "compress {plain_keras} --out {nonempty}", "--force"),
    Case("compress out under a file", "compress {plain_keras} --out {file}/o", "not a directory"),
    Case("predict out is the input folder", "predict {garbage_tflite} {imgdir} --out {imgdir} --force",
         "refused even with --force"),
    Case("predict out inside the input folder", "predict {garbage_tflite} {imgdir} --out {imgdir}/m", "lies inside"),
    Case("predict out holds the input", "predict {garbage_tflite} {img} --out {tmp} --force", "holds the input"),
    Case("predict out is the model", "predict {garbage_tflite} {img} --out {garbage_tflite} --force", "is the input"),
    Case("predict out exists", "predict {garbage_tflite} {img} --out {nonempty}", "--force"),
    Case("predict out under a file", "predict {garbage_tflite} {img} --out {file}/o", "not a directory"),
    Case("bench json is the artifact", "bench {garbage_tflite} --json {garbage_tflite} --force", "is the input"),
    Case("bench json in the compress folder", "bench {cdir} --json {cdir}/b.json", "--json {cdir}/b.json lies inside"),
    Case("bench csv in the compress folder", "bench {cdir} --csv {cdir}/b.csv", "--csv {cdir}/b.csv lies inside"),
    Case("bench json is the baseline", "bench {garbage_tflite} --baseline {bench_ok} --json {bench_ok} --force",
         "is the input"),
    Case("bench json and csv the same", "bench {garbage_tflite} --json {tmp}/x --csv {tmp}/x", "same file"),
    Case("bench json exists", "bench {garbage_tflite} --json {file}", "--force"),
    Case("bench json under a file", "bench {garbage_tflite} --json {file}/b.json", "not a directory"),
    Case("bench md is the data", "bench {garbage_tflite} --data {data} --md {data} --force", "is the input"),
    Case("merge json is an input", "bench merge {bench_ok} --json {bench_ok} --force", "is the input"),
    Case("bundle out not zip", "bundle {cdir} --artifact model_int8.tflite --out {tmp}/b.tar", "must end in .zip"),
    Case("bundle out exists", "bundle {cdir} --artifact model_int8.tflite --out {file}", "--force"),
    Case("bundle out inside compress dir", "bundle {cdir} --artifact model_int8.tflite --out {cdir}/b.zip",
         "lies inside"),
    Case("bundle out is the bench file", "bundle {cdir} --artifact model_int8.tflite --bench {bench_ok} "
         "--out {bench_ok} --force", "is the input"),
    Case("bundle out under a file", "bundle {cdir} --artifact model_int8.tflite --out {file}/b.zip", "not a directory"),
    # --- data ------------------------------------------------------------------------------------
    *[Case(f"train data {key}", f"train --data {{{key}}} --preset tiny --out {{tmp}}/m.keras", expect) for key, expect in (
        ("emptydir", "has no images/"), ("data_noimages", "has no images/"), ("data_nomasks", "has no masks/"),
        ("data_empty", "no images"), ("data_orphan", "mask without an image"),
        ("data_missing_mask", "image without a mask"), ("data_garbage", "cannot read image"),
        ("data_bomb", "pixels"), ("data_bigbomb", "over the limit"), ("data_one", "at least 2"),
        ("file", "not found"), ("data_split_empty_val", "no images"))],
    Case("train data absent", "train --data {tmp}/nowhere --preset tiny --out {tmp}/m.keras", "not found"),
    # --- model files, inspected before anything is deserialized ----------------------------------------
    *[Case(f"{command} model {key}", f"{command} {{{key}}}" + (" --out {tmp}/o" if command == "compress" else ""), expect)
      for command in ("eval", "compress") for key, expect in (
          ("empty_keras", "empty"), ("notzip_keras", "not a valid .keras"), ("noconfig_keras", "not a Keras model"),
          ("future_keras", "newer than"), ("badjson_keras", "not JSON"), ("list_keras", "not an object"),
          ("lambda_keras", "Lambda"), ("lambda3_keras", "Lambda"), ("nested_lambda_keras", "Lambda"),
          ("two_inputs_keras", "has one input"), ("dynamic_keras", "no fixed size"), ("garbage_h5", "HDF5"),
          ("weights_h5", "without a model config"), ("lambda_h5", "Lambda"), ("nested_lambda_h5", "Lambda"),
          ("two_inputs_h5", "has one input"), ("badjson_h5", "not JSON"), ("txt_model", "unsupported model format"),
          ("emptydir", "not found"))],
    Case("eval model absent", "eval {tmp}/nope.keras", "not found"),
    Case("compress model absent", "compress {tmp}/nope.keras --out {tmp}/o", "not found"),
    # --- bundles from elsewhere --------------------------------------------------------------------------
    *[Case(f"predict bundle {key}", f"predict {{{key}}} {{img}} --out {{tmp}}/o", expect) for key, expect in (
        ("b_abs", "not a safe"), ("b_dotdot", "not a safe"), ("b_backslash", "not a safe"), ("b_subdir", "not a safe"),
        ("b_exe", "not a safe"), ("b_noname", "not a safe"), ("b_dot", "not a safe"), ("b_control", "not a safe"),
        ("b_dup", "same name"), ("b_extra", "unexpected entry"), ("b_four", "entries"), ("b_dir", "folder or a link"),
        ("b_link", "folder or a link"), ("b_nomanifest", "no manifest"), ("b_manifest_notjson", "not an edgeseg bundle"),
        ("b_manifest_list", "not a JSON object"), ("b_manifest_binary", "not an edgeseg bundle"),
        ("b_nomodel_obj", "no model object"), ("b_model_str", "no model object"), ("b_file_int", "model file"),
        ("b_badhex", "hexadecimal"), ("b_shamismatch", "does not match"), ("b_schema", "schema"),
        ("b_nopre", "preprocessing"), ("b_badpre", "malformed preprocessing spec"), ("b_missing_model", "missing"),
        ("b_other_model", "unexpected entry"), ("b_big_manifest", "over the limit"), ("b_garbage_model", "cannot load"),
        ("b_notzip", "not an edgeseg bundle"), ("b_empty", "not an edgeseg bundle"),
        ("b_truncated", "not an edgeseg bundle"), ("b_absent", "not found"))],
    # --- JSON of the wrong shape, corrupt artifacts ---------------------------------------------------------
    *[Case(f"bench baseline {key}", f"{BENCH} --baseline {{{key}}}", expect) for key, expect in (
        ("bench_notjson", "not a readable bench JSON"), ("bench_list", "schema"), ("bench_schema", "schema"),
        ("bench_norows", 'has the wrong type'), ("bench_nomachine", 'machine'),
        ("bench_badrow", "missing field 'runtime'"), ("bench_merged", "merged file"))],
    Case("bench baseline absent", f"{BENCH} --baseline {{tmp}}/none.json", 'bench JSON file not found'),
    *[Case(f"bench merge {key}", f"bench merge {{{key}}} {{bench_ok}}", expect) for key, expect in (
        ("bench_notjson", "not a readable"), ("bench_schema", "schema"), ("bench_badrow", "missing field 'runtime'"))],
    *[Case(f"bench artifact {key}", f"bench {{{key}}} --runtimes litert-cpu,ort-cpu", expect) for key, expect in (
        ("empty_tflite", "empty"), ("garbage_tflite", "not a readable tflite"), ("garbage_onnx", "not a readable onnx"), ("txt_model", "not a model"),
        ("tmp", "without a compress report"), ("cdir_notjson", 'not a readable edgeseg compress report'),
        ("cdir_list", 'expected edgeseg.compress/1 or edgeseg.compress/2'),
        ("cdir_noartifacts", "'artifacts' has the wrong type"), ("cdir_outside", "outside the compress folder"))],
    *[Case(f"bundle report {key}", f"bundle {{{key}}} --artifact model_int8.tflite --out {{tmp}}/b.zip", expect)
      for key, expect in (
          ("cdir_nodir", "compress report not found"), ("cdir_notjson", "not a readable edgeseg compress report"),
          ("cdir_list", "expected edgeseg.compress"), ("cdir_noartifacts", "'artifacts' has the wrong type"),
          ("cdir_badrow", "'bytes' has the wrong type"),
          ("cdir_nosha", "records no sha256"), ("cdir_badsha", "not the file compress verified"),
          ("cdir_badbytes", "was changed"), ("cdir_undeployable", "not deployable"),
          ("cdir_nobaseline", "'baseline' has the wrong type"), ("cdir_outside", "is not in"))],
    Case("bundle artifact outside the folder", "bundle {cdir_outside} --artifact ../outside.tflite --out {tmp}/b.zip",
         "outside the compress folder"),
    Case("bundle artifact not in report", "bundle {cdir} --artifact nope.tflite --out {tmp}/b.zip", "is not in"),
    Case("bundle garbage artifact", "bundle {cdir} --artifact model_int8.tflite --out {tmp}/b.zip", "not a readable tflite model"),
    Case("edgetpu-check garbage", "edgetpu-check {garbage_tflite}", "not a readable .tflite"),
    Case("edgetpu-check not tflite", "edgetpu-check {txt_model}", "takes a .tflite"),
    Case("edgetpu-check absent", "edgetpu-check {tmp}/none.tflite", "takes a .tflite"),
    Case("predict model garbage tflite", "predict {garbage_tflite} {img} --out {tmp}/o", "cannot load"),
    Case("predict model garbage onnx", "predict {garbage_onnx} {img} --out {tmp}/o", "cannot load"),
    Case("predict model empty", "predict {empty_tflite} {img} --out {tmp}/o", "cannot load"),
    Case("predict model txt", "predict {txt_model} {img} --out {tmp}/o", "device runtime runs"),
    Case("predict input absent", "predict {garbage_tflite} {tmp}/none.png --out {tmp}/o", "input not found"),
    Case("predict input not an image", "predict {garbage_tflite} {file} --out {tmp}/o", "not an image"),
    Case("predict input empty folder", "predict {garbage_tflite} {emptydir} --out {tmp}/o", "no images"),
    # --- issue 24: these ended in tracebacks, or were accepted silently ---------------------------------
    *[Case(f"{command} model {key}", f"{command} {{{key}}}" + (" --out {tmp}/o" if command == "compress" else ""), expect)
      for command in ("eval", "compress") for key, expect in (
          ("meta_notutf8_keras", "metadata.json is not UTF-8"), ("meta_list_keras", "metadata.json is a JSON list"))],
    Case("synth out empty", "data synth --out ''", "--out is empty"),
    Case("synth out blank", "data synth --out ' '", "--out is empty"),
    Case("train out empty", "train --preset tiny --out ''", "--out is empty"),
    Case("bench json empty", "bench {garbage_tflite} --json ''", "--json is empty"),
    Case("bench report lists a missing artifact", "bench {cdir_missing}", "listed in"),
    Case("bench report spec has 2 channels", "bench {cdir_2ch}", "unsupported input shape 32x32x2"),
    Case("bench baseline row of 0 bytes", f"{BENCH} --baseline {{bench_zero_bytes}}", "has 0 bytes"),
    Case("bench merge md machine lacks a field", "bench merge {bench_ok} --md {tmp}/m.md", "lacks 'os'"),
    Case("train float tiff far above 1", "train --data {data_float_tiff} --preset tiny --epochs 1 --out {tmp}/m.keras",
         "float image with values"),
    # --- slow: TensorFlow loads a model, or a real artifact runs ------------------------------------------
    Case("eval custom objects calls sys.exit", "eval {plain_keras} --custom-objects {custom_exit}", "failed to run",
         slow=True),
    Case("eval keras2 file without a model", "eval {plain_keras}", "cannot load", slow=True),
    Case("predict a decompression bomb", "predict {real_tflite} {bomb} --out {tmp}/o", "pixels", slow=True),
    Case("predict force over the images", "predict {real_tflite} {imgdir} --out {imgdir} --force", "refused", slow=True),
    Case("eval data with a bomb", "eval {real_keras} --data {data_bomb}", "pixels", slow=True),
    Case("eval mask of another size", "eval {real_keras} --data {data_labels}", "but its mask is", slow=True),
]


def _labels_data(d: Path) -> Path:
    from adversarial_world import _dataset
    import numpy as np
    from PIL import Image

    root = _dataset(d / "labels")
    for mask in (root / "masks").iterdir():  # every one, whichever lands in the validation split
        Image.fromarray(np.full((20, 24), 255, np.uint8)).save(mask)
    return root


@pytest.fixture
def world(request, tmp_path):
    extra = {"data_labels": _labels_data}
    if request.node.get_closest_marker("slow"):
        compressed = request.getfixturevalue("compressed")
        extra["real_tflite"] = copy_into(compressed[1] / "model_int8.tflite")
        extra["real_keras"] = copy_into(request.getfixturevalue("tiny_model_path"))
    return World(tmp_path, extra)


@pytest.fixture
def private_tmp(tmp_path_factory, monkeypatch) -> Path:
    """The system temp folder for one case (other processes on this machine share /tmp)."""
    folder = tmp_path_factory.mktemp("system-tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else [])
                                  for c in CASES])
def test_hostile_input(case: Case, world: World, tmp_path: Path, private_tmp: Path, capsys):
    argv = [word.format_map(world) for word in shlex.split(case.argv)]
    capsys.readouterr()
    before = tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert code == case.code, err
    assert case.expect.format_map(world) in errors[0], errors[0]
    assert tree(tmp_path) == before, "something was written, left behind or changed"
    gc.collect()  # a failed Segmenter's folder is removed when it is collected
    assert list(private_tmp.iterdir()) == [], "a temporary was left in the system temp folder"


def test_the_battery_is_big_and_unique():
    assert len(CASES) >= 200
    assert len({c.name for c in CASES}) == len(CASES)
