import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgeseg.metrics import ScoreAccumulator, dice, iou, probabilities_to_labels

masks = arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)))


@given(masks)
def test_dice_of_a_mask_with_itself_is_one(x):
    assert dice(x, x) == 1.0
    assert iou(x, x) == 1.0


@given(masks, st.data())
def test_dice_is_symmetric_and_bounded(x, data):
    y = data.draw(arrays(np.bool_, x.shape))
    assert dice(x, y) == dice(y, x)
    assert 0.0 <= dice(x, y) <= 1.0
    assert 0.0 <= iou(x, y) <= dice(x, y) + 1e-12  # IoU never exceeds Dice


@given(masks)
def test_dice_of_a_mask_with_its_complement_is_zero(x):
    if x.any():
        assert dice(x, ~x) == 0.0


def test_documented_conventions():
    empty = np.zeros((4, 4), bool)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    full = np.ones((4, 4), bool)
    assert dice(empty, full) == 0.0
    half = np.zeros((4, 4), bool)
    half[:2] = True
    assert dice(half, full) == pytest.approx(2 * 8 / (8 + 16))
    assert iou(half, full) == pytest.approx(0.5)


def test_accumulator_global_versus_per_image():
    acc = ScoreAccumulator(labels=2)
    big_truth = np.ones((4, 4), int)
    acc.update(big_truth, big_truth)  # perfect on a large object
    small_truth = np.zeros((4, 4), int)
    small_truth[0, 0] = 1
    acc.update(np.zeros((4, 4), int), small_truth)  # misses a one-pixel object
    result = acc.result()
    assert result["dice_per_image"] == pytest.approx(0.5)
    assert result["dice"] == pytest.approx(2 * 16 / (16 + 17))
    assert result["pixel_accuracy"] == pytest.approx(31 / 32)
    assert result["images"] == 2


def test_multiclass_reports_each_class():
    truth = np.array([[0, 1], [2, 2]])
    pred = np.array([[0, 1], [2, 1]])
    acc = ScoreAccumulator(labels=3)
    acc.update(pred, truth)
    result = acc.result()
    assert result["dice_per_class"] == pytest.approx([2 * 1 / 3, 2 * 1 / 3])
    assert result["dice"] == pytest.approx(2 / 3)


def test_probabilities_to_labels():
    sigmoid = np.array([[[0.2], [0.5], [0.51]]])
    assert probabilities_to_labels(sigmoid).tolist() == [[0, 0, 1]]  # strictly above: int8's exact 0.5 is background
    softmax = np.array([[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]])
    assert probabilities_to_labels(softmax).tolist() == [[1, 0]]


def test_empty_accumulator_refuses_to_score():
    with pytest.raises(ValueError):
        ScoreAccumulator().result()


def test_memoized_reference_runs_once_per_distinct_batch():
    from edgeseg.scoring.predictors import memoized

    calls = []

    def predict(images):
        calls.append(images.shape)
        return images * 2

    run = memoized(predict)
    a, b = np.zeros((2, 3, 3, 1), np.float32), np.ones((2, 3, 3, 1), np.float32)
    for _ in range(3):
        assert np.array_equal(run(a), a * 2) and np.array_equal(run(b), b * 2)
    assert len(calls) == 2
    tiny_budget = memoized(predict, max_bytes=1)
    tiny_budget(a)
    tiny_budget(a)
    assert len(calls) == 4  # over budget: nothing cached, still correct


# The functions production code calls: ScoreAccumulator (through evaluate_predictor) and
# probabilities_to_labels (evaluate and the device side).
label_maps = arrays(np.int32, st.tuples(st.integers(1, 4), st.integers(1, 10), st.integers(1, 10)),
                    elements=st.integers(0, 2))


@given(label_maps, st.data())
def test_accumulator_agrees_with_the_pairwise_definitions(pred, data):
    truth = data.draw(arrays(np.int32, pred.shape, elements=st.integers(0, 2)))
    scores = ScoreAccumulator(labels=2)
    scores.update(pred > 0, truth > 0)
    result = scores.result()
    per_image = [dice(p > 0, t > 0) for p, t in zip(pred, truth)]
    assert result["dice_per_image"] == pytest.approx(np.mean(per_image))
    assert result["dice"] == pytest.approx(dice(pred > 0, truth > 0))  # global Dice pools every pixel
    assert result["iou"] == pytest.approx(iou(pred > 0, truth > 0))
    assert 0.0 <= result["iou"] <= result["dice"] + 1e-12 <= 1.0 + 1e-12


@given(label_maps)
def test_accumulator_of_a_perfect_prediction_is_one_for_every_class(truth):
    scores = ScoreAccumulator(labels=3)
    scores.update(truth, truth)
    result = scores.result()
    assert result["dice"] == result["iou"] == result["pixel_accuracy"] == 1.0
    assert result["dice_per_class"] == [1.0, 1.0]


@given(label_maps, st.integers(1, 3))
def test_batches_stream_like_one_batch(pred, split):
    truth = np.roll(pred, 1, axis=-1)
    whole, streamed = ScoreAccumulator(labels=3), ScoreAccumulator(labels=3)
    whole.update(pred, truth)
    for start in range(0, len(pred), split):
        streamed.update(pred[start:start + split], truth[start:start + split])
    assert whole.result() == streamed.result()


@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
              elements=st.floats(0, 1, width=32)))
def test_probabilities_to_labels_thresholds_one_channel_and_argmaxes_several(probs):
    labels = probabilities_to_labels(probs, 0.5)
    assert labels.shape == probs.shape[:-1]
    if probs.shape[-1] == 1:
        assert np.array_equal(labels, (probs[..., 0] > 0.5).astype(np.int32))
    else:
        assert labels.max() < probs.shape[-1]
        assert np.array_equal(labels, np.argmax(probs, axis=-1))
