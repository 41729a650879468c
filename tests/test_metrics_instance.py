"""Instance metrics on hand-made label maps: exact values worked out by hand, plus properties."""
import numpy as np
import pytest

from edgeseg.metrics.instance import InstanceScoreAccumulator, image_counts, overlap, scores


def _two_squares() -> np.ndarray:
    labels = np.zeros((10, 10), np.int32)
    labels[1:5, 1:5] = 1  # 16 px
    labels[1:5, 6:9] = 2  # 12 px
    return labels


def test_identical_maps_score_one_whatever_the_ids():
    truth = _two_squares()
    renamed = np.where(truth == 1, 700, np.where(truth == 2, 3, 0))
    s = scores(image_counts(renamed, truth))
    assert s == {"f1": 1.0, "pq": 1.0, "sq": 1.0, "rq": 1.0, "aji": 1.0, "count_error": 0}


def test_empty_images():
    empty = np.zeros((8, 8), np.int32)
    assert scores(image_counts(empty, empty))["pq"] == 1.0
    one = empty.copy()
    one[2:4, 2:4] = 5
    missed = scores(image_counts(empty, one))
    assert missed["pq"] == missed["f1"] == missed["aji"] == 0.0 and missed["count_error"] == -1
    invented = scores(image_counts(one, empty))
    assert invented["pq"] == invented["f1"] == invented["aji"] == 0.0 and invented["count_error"] == 1


def test_a_split_object():
    truth = np.zeros((4, 10), np.int32)
    truth[:, :10] = 1  # 40 px
    pred = np.zeros_like(truth)
    pred[:, :7] = 1  # 28 px: IoU 0.7, matched
    pred[:, 7:] = 2  # 12 px: IoU 0.3, a false positive
    c = image_counts(pred, truth)
    assert (c.tp, c.fp, c.fn) == (1, 1, 0)
    s = scores(c)
    assert s["f1"] == pytest.approx(1 / 1.5)
    assert s["sq"] == pytest.approx(0.7)
    assert s["pq"] == pytest.approx(0.7 / 1.5)
    # AJI: the true object takes pred 1 (28/40); pred 2 is unused, its 12 px join the union.
    assert s["aji"] == pytest.approx(28 / (40 + 12))
    assert s["count_error"] == 1


def test_a_merged_pair():
    truth = np.zeros((4, 10), np.int32)
    truth[:, :6] = 1  # 24 px
    truth[:, 6:] = 2  # 16 px
    pred = (truth > 0).astype(np.int32)  # one 40 px object: IoU 0.6 with 1, 0.4 with 2
    c = image_counts(pred, truth)
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)
    s = scores(c)
    assert s["pq"] == pytest.approx(0.6 / 1.5)
    # AJI: both true objects take the one prediction: (24 + 16) / (40 + 40).
    assert s["aji"] == pytest.approx(0.5)
    assert s["count_error"] == -1


def test_exactly_half_overlap_is_not_a_match():
    truth = np.zeros((2, 4), np.int32)
    truth[:, :2] = 1
    pred = np.zeros_like(truth)
    pred[:, :1] = 1  # IoU exactly 0.5
    assert image_counts(pred, truth).tp == 0


def test_overlap_table_counts_every_pair():
    truth = _two_squares()
    pred = np.zeros_like(truth)
    pred[0:3, 0:10] = 9
    table = overlap(pred, truth)
    assert table.pred_area.tolist() == [30]
    assert table.true_area.tolist() == [16, 12]
    assert table.intersection.tolist() == [[8, 6]]


def test_accumulator_pools_and_averages():
    truth = _two_squares()
    perfect = truth.copy()
    empty = np.zeros_like(truth)
    acc = InstanceScoreAccumulator()
    acc.update(np.stack([perfect, empty]), np.stack([truth, truth]))
    r = acc.result()
    assert r["images"] == 2 and r["true_objects"] == 4 and r["pred_objects"] == 2
    assert r["f1"] == pytest.approx(2 / (2 + 0.5 * 2))  # pooled: tp 2, fn 2
    assert r["f1_per_image"] == pytest.approx(0.5)
    assert r["pq_per_image"] == pytest.approx(0.5)
    assert r["count_mae"] == 1.0 and r["count_bias"] == -1.0
    with pytest.raises(ValueError):
        InstanceScoreAccumulator().result()
    with pytest.raises(ValueError):
        acc.update(truth, truth[:5])


def test_random_maps_stay_in_range_and_are_symmetric_in_f1():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 5, (12, 12))
        b = rng.integers(0, 5, (12, 12))
        s, t = scores(image_counts(a, b)), scores(image_counts(b, a))
        for name in ("f1", "pq", "sq", "aji"):
            assert 0.0 <= s[name] <= 1.0
        assert s["f1"] == pytest.approx(t["f1"]) and s["pq"] == pytest.approx(t["pq"])
        assert s["pq"] <= s["f1"] + 1e-12


def test_coco_mask_ap_when_pycocotools_is_installed():
    pytest.importorskip("pycocotools")
    from edgeseg.metrics.instance import coco_mask_ap

    truth = _two_squares()
    many = np.zeros((64, 64), np.int32)
    for i in range(150):  # above COCO's default limit of 100 detections per image
        y, x = divmod(i, 15)
        many[y * 4:y * 4 + 3, x * 4:x * 4 + 3] = i + 1
    result = coco_mask_ap([truth, many], [truth, many], max_dets=200)
    assert result["ap"] == pytest.approx(1.0) and result["max_dets"] == 200
    capped = coco_mask_ap([many], [many], max_dets=100)
    assert capped["ap"] < 0.9  # the old limit loses a third of the objects
