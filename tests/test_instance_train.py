"""Decoding tuned on validation outputs, and `edgeseg train --task instance` / `eval` end to end."""
import numpy as np
import pytest

from conftest import run_cli
from edgeseg.data.instance_targets import instance_targets
from edgeseg.data.synthetic_instances import synth_instance_sample
from edgeseg.instances.decode import DecodeSettings
from edgeseg.instances.scoring import score_outputs, tune_decoding


def test_tuning_picks_the_grid_point_of_best_pq():
    rng = np.random.default_rng(0)
    truths = [synth_instance_sample(48, 48, i, seed=2)[1] for i in range(4)]
    # A network whose distance peaks are low: at the default seed level (0.5) nothing is seeded
    # inside objects, so touching ones merge; a lower seed level splits them again.
    outputs = []
    for labels in truths:
        t = instance_targets(labels)
        t[..., 1] *= 0.45
        outputs.append(np.clip(t + rng.normal(0, 0.01, t.shape), 0, 1).astype(np.float32))
    default = score_outputs(outputs, truths, DecodeSettings())
    tuned = tune_decoding(outputs, truths, grid={"seed": (0.2, 0.3, 0.5), "foreground": (0.5,)})
    assert tuned.settings.seed in (0.2, 0.3)
    assert tuned.scores["pq"] > default["pq"] + 0.1
    assert len(tuned.table) == 3 and {"seed", "foreground", "pq", "f1"} <= set(tuned.table[0])
    assert tuned.scores["pq"] == pytest.approx(max(row["pq"] for row in tuned.table), abs=1e-4)


@pytest.mark.slow
def test_train_and_eval_instance_model(tmp_path):
    from edgeseg.models.io import load_model

    out = tmp_path / "inst.keras"
    result = run_cli("train", "--task", "instance", "--boundary", "--preset", "tiny", "--synthetic-train", "32",
                     "--synthetic-val", "8", "--epochs", "2", "--batch-size", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "val PQ" in result.stdout and "decoding tuned on 8 validation images" in result.stdout
    assert "validation PQ" in result.stdout and "AJI" in result.stdout
    model, spec = load_model(out)
    assert spec.task == "instance" and spec.instance_channels == 3
    assert DecodeSettings.from_dict(spec.decode).seed in (0.3, 0.4, 0.5, 0.6, 0.7)
    assert tuple(model.output_shape) == (None, 32, 32, 3)
    evaluated = run_cli("eval", str(out), "--synthetic-val", "8")  # the task comes from the spec
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "PQ" in evaluated.stdout and "F1@0.5" in evaluated.stdout


def test_instance_training_refuses_what_it_does_not_support(tmp_path):
    from edgeseg.config import DataConfig, ModelConfig, TrainConfig
    from edgeseg.errors import UsageError
    from edgeseg.training import train

    model = ModelConfig(preset="tiny", task="instance")
    with pytest.raises(UsageError, match="leave --strategy out"):
        train(TrainConfig(model=model, strategy="mirrored"), tmp_path / "x.keras")
    with pytest.raises(UsageError, match="--balance"):
        train(TrainConfig(model=model, data=DataConfig(balance="weight")), tmp_path / "x.keras")
    assert not (tmp_path / "x.keras").exists()


def test_agreement_with_the_float_model():
    from edgeseg.instances.scoring import instance_agreement

    labels = synth_instance_sample(48, 48, 1, seed=2)[1]
    ref = instance_targets(labels)
    same = instance_agreement([ref], [ref.copy()], DecodeSettings())
    assert same["pq"] == 1.0 and same["count_mae"] == 0.0
    merged = ref.copy()
    merged[..., 1] = 0.2  # no seeds: touching objects merge
    assert instance_agreement([ref], [merged], DecodeSettings())["pq"] < 0.9
