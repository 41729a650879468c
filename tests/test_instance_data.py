"""Instance data: synthetic instances, mask checks, targets after augmentation, COCO import."""
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from conftest import write_pair
from edgeseg.config import DataConfig, PreprocessSpec
from edgeseg.data.augment import augment
from edgeseg.data.instance_data import LooksSemanticWarning, instance_labels, load_instance_splits
from edgeseg.data.instance_targets import boundaries, inner_distance, instance_targets
from edgeseg.data.synthetic_instances import synth_instance_sample
from edgeseg.instances.rle import rle_encode
from edgeseg.errors import DataError, OutputExistsError, UsageError


def test_synthetic_instances_touch_have_unique_ids_and_are_reproducible():
    touching = 0
    for index in range(8):
        image, labels = synth_instance_sample(64, 64, index, seed=1)
        assert image.shape == (64, 64, 1) and image.dtype == np.uint8
        ids = np.unique(labels)
        assert ids[0] == 0 and list(ids[1:]) == list(range(1, len(ids)))  # 1..N
        # objects touch: a pixel of one object has a 4-neighbour of another
        a, b = labels[:, :-1], labels[:, 1:]
        touching += int(np.any((a > 0) & (b > 0) & (a != b)))
    assert touching >= 6
    np.testing.assert_array_equal(synth_instance_sample(64, 64, 3, seed=1)[1], synth_instance_sample(64, 64, 3, 1)[1])
    assert synth_instance_sample(48, 32, 0, channels=3)[0].shape == (48, 32, 3)


def test_targets_per_object_distance_and_boundary():
    labels = np.zeros((9, 12), np.int32)
    labels[1:8, 1:6] = 1
    labels[1:8, 6:11] = 2  # touches object 1
    t = instance_targets(labels, boundary=True)
    assert t.shape == (9, 12, 3) and t.dtype == np.float32
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert t[..., 1][labels == 1].max() == 1.0 and t[..., 1][labels == 2].max() == 1.0
    assert t[4, 5, 1] < t[4, 3, 1] and t[4, 6, 1] < t[4, 8, 1]  # a valley where they meet
    assert t[4, 5, 2] == 1.0 and t[4, 6, 2] == 1.0 and t[4, 3, 2] == 0.0
    assert np.array_equal(t[..., 0] > 0, labels > 0)
    assert not boundaries(np.zeros((4, 4), np.int32)).any() and not inner_distance(np.zeros((3, 3), int)).any()


def test_augmentation_keeps_instance_ids_nearest_neighbour():
    image, labels = synth_instance_sample(64, 64, 2, seed=0)
    ids = set(np.unique(labels))
    for s in range(12):
        _, out = augment(image[..., :1].astype(np.float32) / 255, labels, np.random.default_rng(s))
        assert set(np.unique(out)) <= ids  # no invented ids at resampled edges


def test_instance_data_targets_follow_augmentation():
    spec = PreprocessSpec(32, 32)
    train, val = load_instance_splits(DataConfig(synthetic_train=4, synthetic_val=2), spec, boundary=True)
    images, targets = train.target_batch([0, 1], np.random.default_rng(0))
    assert images.shape == (2, 32, 32, 1) and targets.shape == (2, 32, 32, 3)
    _, labels = train.batch([0, 1], np.random.default_rng(0))
    np.testing.assert_array_equal(targets[..., 0] > 0, labels > 0)
    assert len(val) == 2


def test_mask_checks():
    sixteen = np.zeros((6, 6), np.uint16)
    sixteen[0:2, 0:2], sixteen[3:5, 3:5] = 1000, 40000
    assert sorted(np.unique(instance_labels(sixteen, "m.png"))) == [0, 1000, 40000]
    semantic = np.zeros((6, 6), np.uint8)
    semantic[0:2, 0:2] = semantic[3:5, 3:5] = 255
    with pytest.warns(LooksSemanticWarning, match="looks semantic"):
        labels = instance_labels(semantic, "s.png")
    assert sorted(np.unique(labels)) == [0, 1, 2]  # its two regions become two objects
    single = np.zeros((6, 6), np.uint16)
    single[1:4, 1:4] = 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one object alone in its image is not 'semantic'
        assert sorted(np.unique(instance_labels(single, "one.png"))) == [0, 7]
    full = (np.arange(256, dtype=np.uint16).reshape(16, 16)).astype(np.uint8)
    with pytest.raises(DataError, match="ids have run out"):
        instance_labels(full, "full.png")
    with pytest.raises(DataError, match="colour mask"):
        instance_labels(np.random.default_rng(0).integers(0, 9, (4, 4, 3), dtype=np.uint8), "c.png")


def test_directory_of_16_bit_masks(tmp_path):
    for i in range(3):
        image, labels = synth_instance_sample(40, 40, i, seed=5)
        write_pair(tmp_path, f"im{i}", image[..., 0], (labels * 300).astype(np.uint16))
    with Image.open(next((tmp_path / "masks").iterdir())) as mask:
        assert mask.mode.startswith("I")
    train, val = load_instance_splits(DataConfig(source=str(tmp_path), val_fraction=0.34), PreprocessSpec(40, 40))
    _, labels = train.unit_sample(0)
    assert labels.max() > 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # many ids: no 'looks semantic' warning
        train.target_batch([0])


def _coco(tmp_path, annotations):
    images = tmp_path / "imgs"
    images.mkdir()
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(images / "a.png")
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": [{"id": 7, "file_name": "a.png", "height": 10, "width": 12}],
                                "annotations": annotations, "categories": [{"id": 1, "name": "c"}]}))
    return path, images


def test_coco_import_polygons_rle_and_crowd(tmp_path):
    from edgeseg.instances.coco_import import import_coco

    rle_mask = np.zeros((10, 12), bool)
    rle_mask[6:9, 8:11] = True
    path, images = _coco(tmp_path, [
        {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]},
        {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1, "segmentation": [[0, 0, 11, 0, 11, 9, 0, 9]]},
        {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 0, "segmentation": rle_encode(rle_mask)},
    ])
    out = tmp_path / "data"
    assert import_coco(path, images, out) == 1
    with Image.open(out / "masks" / "a.png") as saved:
        labels = np.asarray(saved)
    assert (out / "images" / "a.png").is_file()
    assert sorted(np.unique(labels)) == [0, 1, 2]  # the crowd region left no trace
    assert labels[2, 3] == 1 and labels[0, 0] == 0
    np.testing.assert_array_equal(labels == 2, rle_mask)
    with pytest.raises(OutputExistsError):
        import_coco(path, images, out)
    with pytest.raises(UsageError, match="overlaps"):
        import_coco(path, images, images / "inside", force=True)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DataError, match="cannot read"):
        import_coco(bad, images, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_import_coco_cli(tmp_path):
    from conftest import last_error_line, run_cli

    path, images = _coco(tmp_path, [{"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
                                     "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]}])
    done = run_cli("data", "import-coco", str(path), str(images), "--out", str(tmp_path / "d"))
    assert done.returncode == 0 and "wrote 1 images" in done.stdout, done.stderr[-2000:]
    again = run_cli("data", "import-coco", str(path), str(images), "--out", str(tmp_path / "d"))
    assert again.returncode == 2 and "--force" in last_error_line(again)


def test_synth_cli_writes_16_bit_instance_masks(tmp_path):
    from conftest import run_cli

    result = run_cli("data", "synth", "--task", "instance", "--count", "3", "--size", "48", "--out", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr[-2000:]
    masks = sorted((tmp_path / "d" / "masks").iterdir())
    assert len(masks) == 3
    with Image.open(masks[0]) as mask:
        assert mask.mode.startswith("I;16")
        labels = np.asarray(mask)
    np.testing.assert_array_equal(labels, synth_instance_sample(48, 48, 0, seed=0)[1])
    train, _ = load_instance_splits(DataConfig(source=str(tmp_path / "d"), val_fraction=0.34), PreprocessSpec(48, 48))
    assert train.unit_sample(0)[1].max() >= 2
