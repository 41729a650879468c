"""Device-side instance decoding on synthetic probability maps (numpy + scipy only)."""
import json

import numpy as np
import pytest

from edgeseg.data.instance_targets import instance_targets
from edgeseg.instances.decode import DecodeSettings, decode
from edgeseg.instances.rle import rle_decode, rle_encode
from edgeseg.errors import UsageError
from edgeseg.metrics.instance import image_counts, scores


def _touching_discs(size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    labels = np.zeros((size, size), np.int32)
    for object_id, (cy, cx, r) in enumerate([(16, 14, 9), (16, 30, 8), (36, 24, 7), (40, 42, 4)], start=1):
        labels[(labels == 0) & ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)] = object_id
    return labels


@pytest.mark.parametrize("method", ["watershed", "nearest"])
@pytest.mark.parametrize("boundary", [False, True])
def test_perfect_probabilities_decode_to_the_truth(method, boundary):
    truth = _touching_discs()
    probs = instance_targets(truth, boundary=boundary)
    found = decode(probs, DecodeSettings(method=method, min_area=4))
    s = scores(image_counts(found.labels, truth))
    assert len(found) == 4
    assert s["pq"] > 0.9 and s["f1"] == 1.0


def test_noisy_probabilities_still_separate_touching_objects():
    truth = _touching_discs()
    rng = np.random.default_rng(0)
    probs = np.clip(instance_targets(truth) + rng.normal(0, 0.08, (*truth.shape, 2)), 0, 1)
    for method in ("watershed", "nearest"):
        found = decode(probs, DecodeSettings(method=method, min_area=6, min_seed_area=3))
        assert scores(image_counts(found.labels, truth))["f1"] == 1.0, method


def test_foreground_without_a_confident_seed_is_kept_as_one_object():
    probs = np.zeros((20, 20, 2), np.float32)
    probs[5:12, 5:12, 0] = 0.9
    probs[5:12, 5:12, 1] = 0.2  # flat distance: no pixel reaches the seed threshold
    found = decode(probs, DecodeSettings(min_area=4))
    assert len(found) == 1 and found.records[0].area == 49


def test_min_area_drops_specks_and_ids_are_consecutive():
    truth = _touching_discs()
    truth[2:4, 44:46] = 9  # a 4-pixel speck
    found = decode(instance_targets(truth), DecodeSettings(min_area=10))
    assert len(found) == 4
    assert sorted(np.unique(found.labels)) == [0, 1, 2, 3, 4]


def test_records_describe_each_instance():
    probs = np.zeros((16, 24, 2), np.float32)
    probs[2:6, 3:9] = (0.8, 1.0)  # 24 px
    probs[10:14, 14:22] = (0.6, 1.0)  # 32 px
    found = decode(probs, DecodeSettings(min_area=1))
    first, second = found.records
    assert (first.id, first.area, first.box, first.centroid) == (1, 24, (2, 3, 6, 9), (3.5, 5.5))
    assert first.score == pytest.approx(0.8) and second.score == pytest.approx(0.6)
    assert (second.area, second.box) == (32, (10, 14, 14, 22))
    json.dumps(found.to_dicts(rle=True))  # JSON-ready


def test_decoding_at_the_image_size_scales_min_area():
    truth = _touching_discs(32)
    probs = instance_targets(truth)
    found = decode(probs, DecodeSettings(min_area=20), size=(64, 96))
    assert found.labels.shape == (64, 96)
    # min_area counts pixels of the 32x32 grid: the 12 px disc (4 px radius) goes at both sizes.
    small = decode(probs, DecodeSettings(min_area=20))
    assert len(found) == len(small)


def test_settings_round_trip_and_validation():
    settings = DecodeSettings(foreground=0.4, seed=0.7, method="nearest")
    assert DecodeSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert DecodeSettings.from_dict({"seed": 0.6, "added_later": 1}).seed == 0.6
    assert DecodeSettings.from_dict(None) == DecodeSettings()
    with pytest.raises(UsageError, match="method"):
        DecodeSettings(method="magic")
    with pytest.raises(UsageError, match="foreground"):
        DecodeSettings(foreground=1.5)
    with pytest.raises(UsageError, match="2 or 3 channels"):
        decode(np.zeros((8, 8, 1)))


def test_rle_round_trip_and_pycocotools_agreement():
    rng = np.random.default_rng(3)
    masks = [rng.random((13, 17)) > 0.6, np.zeros((5, 4), bool), np.ones((6, 3), bool), _touching_discs() == 2]
    for mask in masks:
        np.testing.assert_array_equal(rle_decode(rle_encode(mask)), mask)
    assert rle_decode({"size": [2, 2], "counts": [1, 2, 1]}).tolist() == [[False, True], [True, False]]
    coco = pytest.importorskip("pycocotools.mask")
    for mask in masks:
        theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle_encode(mask)["counts"] == theirs["counts"].decode()


def test_instance_modules_never_reach_tensorflow():
    from conftest import run_python_without_tensorflow
    from test_lean_import import _loaded_after

    modules = ("edgeseg.instances.decode, edgeseg.instances.rle, edgeseg.metrics.instance, edgeseg.data.instance_data, "
               "edgeseg.instances.coco_import, edgeseg.data.synthetic_instances")
    assert _loaded_after(f"import {modules}") == []
    code = ("import numpy as np\n"
            "from edgeseg.data.instance_targets import instance_targets\n"
            "from edgeseg.instances.decode import decode\n"
            "labels = np.zeros((16, 16), np.int32); labels[2:7, 2:7] = 4; labels[9:14, 3:12] = 8\n"
            "print(len(decode(instance_targets(labels), None)))\n")
    result = run_python_without_tensorflow(code)
    assert result.returncode == 0 and result.stdout.strip() == "2", result.stderr[-2000:]


def test_the_shifted_maximum_is_the_four_neighbour_dilation_without_the_centre():
    from scipy import ndimage

    from edgeseg.instances.decode import largest_four_neighbour

    ids = np.random.default_rng(3).integers(0, 9, (17, 23)).astype(np.int32)
    ring = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool)
    expected = ndimage.grey_dilation(ids, footprint=ring, mode="constant", cval=0)
    assert np.array_equal(largest_four_neighbour(ids), expected)


def test_pixels_climb_to_the_seed_of_their_basin_only():
    """Two touching discs: every pixel joins the seed its steepest ascent reaches, never the
    other disc's; only pixels that climbed take part in the pointer jumps."""
    from edgeseg.instances.decode import assign_watershed

    yy, xx = np.mgrid[:20, :40]
    left, right = np.hypot(yy - 10, xx - 10), np.hypot(yy - 10, xx - 27)
    foreground = (left < 9) | (right < 9)
    distance = np.clip(1 - np.minimum(left, right) / 9, 0, 1).astype(np.float32)
    seeds = np.zeros((20, 40), np.int32)
    seeds[10, 10], seeds[10, 27] = 1, 2
    labels = assign_watershed(seeds, foreground, distance)
    assert set(np.unique(labels[foreground])) == {1, 2}
    assert (labels[foreground & (left < right)] == 1).all() and (labels[foreground & (right < left)] == 2).all()
    assert (labels[~foreground] == 0).all()


def test_box_mean_is_the_uniform_filter_with_the_edge_repeated():
    from scipy import ndimage

    from edgeseg.instances.decode import box_mean

    values = np.random.default_rng(1).random((13, 17)).astype(np.float32)
    for size in (3, 5):
        expected = ndimage.uniform_filter(values.astype(np.float64), size, mode="nearest")
        assert np.allclose(box_mean(values, size), expected, atol=1e-6)
        assert box_mean(values, size).dtype == np.float32
    assert box_mean(values, 1) is values


def test_smoothing_keeps_a_distance_speck_from_seeding_a_second_object():
    truth = np.zeros((40, 40), np.int32)
    yy, xx = np.mgrid[0:40, 0:40]
    truth[(yy - 20) ** 2 + (xx - 20) ** 2 <= 15 ** 2] = 1
    probs = instance_targets(truth)
    probs[20, 8, 1] = 1.0  # one bright pixel near the rim, as an int8 output's speck
    settings = DecodeSettings(min_seed_area=1, min_area=1)
    assert len(decode(probs, settings)) == 2  # the speck seeds a second object
    import dataclasses

    smoothed = decode(probs, dataclasses.replace(settings, smooth=3))
    assert len(smoothed) == 1 and smoothed.records[0].area == int((truth > 0).sum())


def test_smoothing_setting_validation_and_scaling():
    from edgeseg.instances.decode import scaled_window

    assert DecodeSettings.from_dict({"seed": 0.5}).smooth == 1  # a spec written before the setting existed
    for bad in (0, 2, -3):
        with pytest.raises(UsageError, match="smooth"):
            DecodeSettings(smooth=bad)
    assert scaled_window(1, 16.0) == 1
    assert scaled_window(3, 1.0) == 3 and scaled_window(3, 4.0) == 5 and scaled_window(3, 9.0) == 9
    assert scaled_window(5, 0.25) == 3
    found = decode(instance_targets(_touching_discs()), DecodeSettings(smooth=3, min_area=4), size=(96, 96))
    assert len(found) == 4  # the window grows with the decoding size (5 here) and still splits the discs


@pytest.mark.parametrize("raw", [{"smooth": "abc"}, {"smooth": 3.0}, {"smooth": 1000001}, {"smooth": True},
                                 {"foreground": "abc"}, {"seed": float("nan")}, {"min_area": 8.5},
                                 {"method": ["watershed"]}])
def test_malformed_stored_settings_are_refused_in_one_line(raw):
    with pytest.raises(UsageError, match="decode setting|decode method"):
        DecodeSettings.from_dict(raw)
    with pytest.raises(UsageError, match="object of named settings"):
        DecodeSettings.from_dict([1, 2])


def test_the_scaled_smoothing_window_never_exceeds_the_widest_allowed():
    from edgeseg.instances.decode import MAX_SMOOTH, scaled_window

    assert scaled_window(5, 1e6) == MAX_SMOOTH
    assert DecodeSettings(smooth=MAX_SMOOTH).smooth == MAX_SMOOTH


def test_foreground_uses_the_one_threshold_rule_strictly_above():
    """THRESHOLD_RULE (p > t), as semantic masks count it: int8 has a level at exactly 0.5."""
    from edgeseg.metrics.semantic import foreground

    probs = np.zeros((12, 12, 2), np.float32)
    probs[2:8, 2:8] = (0.5, 1.0)  # exactly at the threshold: not foreground
    assert len(decode(probs, DecodeSettings(foreground=0.5, min_area=1))) == 0
    probs[2:8, 2:8, 0] = np.nextafter(np.float32(0.5), np.float32(1))
    assert len(decode(probs, DecodeSettings(foreground=0.5, min_area=1))) == 1
    assert (decode(probs, DecodeSettings(foreground=0.5, min_area=1)).labels > 0).sum() == foreground(probs[..., 0]).sum()
