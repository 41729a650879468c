from pathlib import Path

import pytest

from conftest import last_error_line, make_directory_dataset, run_cli


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "data directory not found"),
    (lambda root: ((root / "images").mkdir(parents=True), (root / "masks").mkdir()), "no images"),
    (lambda root: (make_directory_dataset(root, 3), (root / "images" / "img00.png").unlink()),
     "mask without an image"),
    (lambda root: (make_directory_dataset(root, 3), (root / "images" / "img01.png").write_text("garbage")),
     "cannot read image"),
])
def test_train_bad_data_is_one_line_and_exit_2(tmp_path, setup, message):
    data = tmp_path / "data"
    setup(data)
    out = tmp_path / "model.keras"
    result = run_cli("train", "--data", str(data), "--preset", "tiny", "--epochs", "1", "--out", str(out))
    assert result.returncode == 2
    assert message in last_error_line(result)
    assert not out.exists()


def test_unknown_preset_is_one_line_and_exit_2(tmp_path):
    result = run_cli("train", "--preset", "enormous", "--out", str(tmp_path / "m.keras"))
    assert result.returncode == 2
    assert "unknown preset 'enormous'" in last_error_line(result)


@pytest.mark.slow
def test_train_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "model.keras"
    out.write_text("precious")
    result = run_cli("train", "--preset", "tiny", "--epochs", "1", "--out", str(out))
    assert result.returncode == 2 and "--force" in last_error_line(result)
    assert out.read_text() == "precious"


@pytest.mark.slow
def test_data_synth_then_train_and_eval_on_the_directory(tmp_path):
    data = tmp_path / "synth"
    result = run_cli("data", "synth", "--out", str(data), "--count", "24", "--size", "40")
    assert result.returncode == 0, result.stderr
    assert len(list((data / "images").iterdir())) == 24 == len(list((data / "masks").iterdir()))
    again = run_cli("data", "synth", "--out", str(data), "--count", "2")
    assert again.returncode == 2 and "--force" in last_error_line(again)
    model = tmp_path / "m.keras"
    trained = run_cli("train", "--data", str(data), "--preset", "tiny", "--epochs", "1", "--batch-size", "8",
                      "--out", str(model))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "val Dice" in trained.stdout and model.is_file()
    evaluated = run_cli("eval", str(model), "--data", str(data))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "Dice" in evaluated.stdout and "pixel accuracy" in evaluated.stdout


def test_eval_of_a_missing_model(tmp_path):
    result = run_cli("eval", str(tmp_path / "nope.keras"))
    assert result.returncode == 2 and "model file not found" in last_error_line(result)


def test_scripts_are_shims(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "scripts" / "compress.py"), str(tmp_path / "x.keras")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "model file not found" in result.stderr


@pytest.mark.slow
def test_truncated_image_found_during_training_is_one_line(tmp_path):
    data = make_directory_dataset(tmp_path / "data", 6)
    victim = data / "images" / "img03.png"
    victim.write_bytes(victim.read_bytes()[:120])  # the header parses, the pixels do not
    result = run_cli("train", "--data", str(data), "--preset", "tiny", "--epochs", "1", "--batch-size", "2",
                     "--out", str(tmp_path / "m.keras"))
    assert result.returncode == 2
    assert "img03.png" in last_error_line(result)


def test_data_shaping_flags_without_data_are_said_to_do_nothing(capsys):
    from edgeseg.cli.main import build_parser
    from edgeseg.cli.common import data_config

    parser = build_parser()
    quiet = parser.parse_args(["compress", "m.keras"])
    assert data_config(quiet) is None and capsys.readouterr().err == ""
    resized = parser.parse_args(["compress", "m.keras", "--synthetic-train", "8", "--val-fraction", "0.3"])
    assert data_config(resized) is None
    note = capsys.readouterr().err
    assert "--val-fraction, --synthetic-train" in note and "do nothing without --data" in note
    given = parser.parse_args(["compress", "m.keras", "--data", "synthetic", "--synthetic-train", "8"])
    assert data_config(given).synthetic_train == 8 and capsys.readouterr().err == ""


@pytest.mark.parametrize("command, shown", [
    (["eval"], ["--batch-size BATCH_SIZE", "images per batch (default: 8)", "(default: 0.2)"]),
    (["data", "synth"], ["(default: 200)", "(default: 128)", "(default: semantic)"]),
    (["demo"], ["(default: .edgeseg/demo)"]),
])
def test_help_of_eval_data_and_demo_shows_the_defaults(command, shown, capsys):
    from edgeseg.cli.main import main

    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width
    assert all(" ".join(s.split()) in text for s in shown), text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_an_open_progress_line_is_ended_before_the_one_line_error(monkeypatch, capsys):
    """Issue 24: Keras' live bar redraws one line with '\\r' and no newline; the error that
    followed was glued to the end of the bar."""
    import edgeseg.cli.train as train_cli
    from edgeseg.cli.main import main
    from edgeseg.errors import DataError

    def fails_mid_epoch(args):
        import sys

        sys.stdout.write("\r 3/10 [=====>........] - ETA: 2s - loss: 0.4")
        raise DataError("cannot read image img03.png")

    monkeypatch.setattr(train_cli, "_cmd_train", fails_mid_epoch)
    import sys

    before = sys.stdout
    assert main(["train", "--out", "m.keras"]) == 2
    captured = capsys.readouterr()
    assert captured.out.endswith("loss: 0.4\n")
    assert captured.err == "edgeseg: error: cannot read image img03.png\n"
    assert sys.stdout is before  # the line tracker is gone once the command returns
    assert main(["train", "--out", "m.keras"]) == 2 and capsys.readouterr().out.count("\n") == 1


def test_a_closed_line_gets_no_extra_newline(monkeypatch, capsys):
    import edgeseg.cli.train as train_cli
    from edgeseg.cli.main import main
    from edgeseg.errors import DataError

    def fails(args):
        print("epoch 1: done")
        raise DataError("bad")

    monkeypatch.setattr(train_cli, "_cmd_train", fails)
    assert main(["train", "--out", "m.keras"]) == 2
    assert capsys.readouterr().out == "epoch 1: done\n"
