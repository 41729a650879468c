"""Pruning instance models: fine-tuning, filter ranking and the pruned source's score go
through the task seam (training/task_training.py): the instance loss on targets made from the
label maps, and validation PQ decoded with the spec's settings, never Dice. Semantic models
keep the segmentation loss and Dice."""
import json

import numpy as np
import pytest

from edgeseg.config import CompressConfig, DataConfig, PreprocessSpec
from edgeseg.quantize.methods import LADDERS
from edgeseg.training.task_training import task_training


INSTANCE = PreprocessSpec(32, 32, task="instance", instance_channels=2)


def _splits(spec):
    from edgeseg.data.instance_data import load_task_splits

    return load_task_splits(DataConfig(synthetic_train=4, synthetic_val=3), spec)


def _perfect(data, target_of):
    """A predictor that answers every validation image with the targets of its true labels."""
    images, labels = data.batch(range(len(data)))
    answers = {image.tobytes(): target for image, target in zip(images, target_of(labels))}
    return lambda batch: np.stack([answers[image.tobytes()] for image in batch])


def test_the_task_seam_picks_the_instance_loss_targets_and_pq_for_instance_models():
    from edgeseg.backend import tf
    from edgeseg.data.instance_targets import instance_targets
    from edgeseg.training.losses import segmentation_loss
    from edgeseg.training.losses_instance import instance_loss

    semantic, instance = task_training(PreprocessSpec(32, 32)), task_training(INSTANCE)
    assert (semantic.score_name, semantic.score_label, semantic.independent_channels) == ("dice", "Dice", False)
    assert (instance.score_name, instance.score_label, instance.independent_channels) == ("pq", "PQ", True)

    _, val = _splits(INSTANCE)
    _, labels = val.batch(range(len(val)))
    targets = instance.target_of(labels)
    assert targets.shape == labels.shape + (2,)
    assert np.array_equal(targets[0], instance_targets(labels[0], False))
    assert semantic.target_of(labels).shape == labels.shape + (1,)  # class indices as one channel
    assert task_training(PreprocessSpec(32, 32, task="instance", instance_channels=3)).target_of(labels).shape[-1] == 3

    y, p = tf().constant(targets), tf().constant(np.clip(targets * 0.8 + 0.1, 0, 1))
    assert float(instance.make_loss()(y, p)) == pytest.approx(float(instance_loss()(y, p)))
    y1, p1 = y[..., :1], p[..., :1]
    assert float(semantic.make_loss()(y1, p1)) == pytest.approx(float(segmentation_loss(1)(y1, p1)))

    # the validation score is PQ of the instances decoded with the spec's settings
    from edgeseg.instances.scoring import decode_settings, score_outputs

    expected = score_outputs(list(targets), list(labels), decode_settings(INSTANCE.decode))["pq"]
    assert instance.score(_perfect(val, instance.target_of), val, 8) == pytest.approx(expected) and expected > 0.7
    merged = lambda batch: np.stack([np.dstack([np.ones((32, 32)), np.full((32, 32), 0.9)])] * len(batch))
    scores = instance.scorer(merged, val, 8)
    assert scores["pq"] < 0.5 and "dice" not in scores  # everything one object: PQ sees it, Dice is not used


def test_distillation_is_a_bernoulli_kl_per_channel_for_instance_models():
    from edgeseg.training.distill import distillation_loss

    rng = np.random.default_rng(0)
    teacher = rng.uniform(0.05, 0.95, (2, 4, 4, 2)).astype(np.float32)
    student = rng.uniform(0.05, 0.95, (2, 4, 4, 2)).astype(np.float32)
    bernoulli = teacher * np.log(teacher / student) + (1 - teacher) * np.log((1 - teacher) / (1 - student))
    assert float(distillation_loss(student, teacher, True)) == pytest.approx(bernoulli.mean(), rel=1e-5)
    softmax = (teacher * np.log(teacher / student)).sum(-1).mean()  # what a softmax map gets
    assert float(distillation_loss(student, teacher)) == pytest.approx(softmax, rel=1e-5)
    assert float(distillation_loss(teacher, teacher, True)) == pytest.approx(0.0, abs=1e-6)


def _compress(model_path, out, **options):
    from edgeseg.compress.pipeline import compress

    options = {"formats": ("tflite", "onnx"), **options}
    config = CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), calibration_samples=8,
                            finetune_steps=8, finetune_min_steps=4, verbose=0, **options)
    return compress(model_path, config, out).to_dict()  # report.json's form


@pytest.mark.slow
def test_channel_pruning_an_instance_model_is_fine_tuned_and_verified_by_pq(instance_model, tmp_path):
    out = tmp_path / "out"
    report = _compress(instance_model, out, prune="channels", channel_ratio=0.5, channel_criterion="taylor",
                       distill=0.3)  # distilled from the float model, a Bernoulli KL per channel
    channels = report["channels"]
    assert {"pq", "f1", "dice"} <= set(channels)  # the pruned source is scored by PQ, Dice beside it
    tuned = channels["finetune"]
    assert tuned["metric"] == "pq" and tuned["steps"] >= 4
    assert all(0.0 <= pq <= 1.0 for _, pq in tuned["dice_curve"])
    assert tuned["best_dice"] == pytest.approx(max(pq for _, pq in tuned["dice_curve"]))
    kept = channels["kept_filters"]  # achieved filter counts: about half of each pruned layer is left
    assert any(after < before for after, before in kept.values())
    assert all(after <= before for after, before in kept.values())
    rows = {a["path"]: a for a in report["artifacts"]}
    for name in ("model_channels_int8.tflite", "model_channels_int8.onnx"):
        row = rows[name]  # verified in its own runtime, judged by PQ against the base's budget
        assert row["source"] == "channels" and row["runtime"] in ("litert-cpu", "ort-cpu"), row
        assert None not in (row["pq"], row["f1"], row["agreement_pq"]), row
        assert not row["deployable"] or row["pq"] >= report["baseline"]["pq"] - 0.02
        tried = [a["method"] for a in row["attempts"]]  # the instance ladder, as the base model's
        assert tried == list(LADDERS["instance"][:len(tried)]), tried
    md = (out / "report.md").read_text()
    assert f"PQ {channels['pq']:.4f}" in md and "best validation PQ" in md
    json.dumps(report)


@pytest.mark.slow
def test_magnitude_pruning_an_instance_model_records_its_measured_sparsity(instance_model, tmp_path):
    report = _compress(instance_model, tmp_path / "out", prune="magnitude", sparsity=0.5, formats=("tflite",))
    pruning = report["pruning"]
    assert pruning["sparsity_model"] > 0.4 and {"pq", "f1"} <= set(pruning)
    assert pruning["finetune"]["metric"] == "pq"
    rows = {a["path"]: a for a in report["artifacts"]}
    row = rows["model_pruned_int8.tflite"]
    assert row["pq"] is not None and row["sparsity"] > 0.4  # the zeros reach the int8 file



def _half_zeroed(model):
    """A copy of `model` with the smaller half of every conv kernel set to zero (as pruning leaves it)."""
    from edgeseg.prune.magnitude import copy_model

    pruned = copy_model(model)
    for layer in pruned.layers:
        if type(layer).__name__ in ("Conv2D", "Conv2DTranspose"):
            kernel = layer.kernel.numpy()
            layer.kernel.assign(np.where(np.abs(kernel) < np.median(np.abs(kernel)), 0.0, kernel))
    return pruned


@pytest.mark.slow
def test_qat_of_a_magnitude_pruned_instance_model_keeps_its_zeros(instance_model):
    from edgeseg.artifacts import tflite
    from edgeseg.data.instance_data import load_instance_splits
    from edgeseg.models.io import load_model
    from edgeseg.quantize.qat_instance import instance_quantization_aware
    from edgeseg.quantize.tflite_int8 import convert_integer
    from edgeseg.training.finetune import FinetuneBudget

    model, spec = load_model(instance_model)
    pruned = _half_zeroed(model)
    train, _ = load_instance_splits(DataConfig(synthetic_train=16, synthetic_val=2), spec)
    images, _ = train.batch(range(8))
    budget = FinetuneBudget(max_steps=6, min_steps=0, learning_rate=1e-2)  # steps large enough to move zeros
    sparsity = {keep: tflite.kernel_sparsity(convert_integer(
        instance_quantization_aware(pruned, train, budget, 8, verbose=0, preserve_sparsity=keep), images))
        for keep in (True, False)}
    assert sparsity[True] > 0.45  # pruning-preserving QAT: the zeros reach the int8 file
    assert sparsity[False] < 0.3  # plain QAT would have filled them in: what the compress path must not do
