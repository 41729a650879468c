import numpy as np
import pytest
from PIL import Image

from conftest import make_directory_dataset, write_pair
from edgeseg.config import DataConfig, PreprocessSpec
from edgeseg.data.augment import augment
from edgeseg.data.dataset import load_splits, write_dataset
from edgeseg.data.preprocess import prepare_image
from edgeseg.data.synthetic import synth_sample
from edgeseg.errors import DataError

SPEC = PreprocessSpec(32, 32, 1)


def test_synthetic_is_seeded_and_varied():
    a_img, a_mask = synth_sample(64, 64, 5, seed=1)
    b_img, b_mask = synth_sample(64, 64, 5, seed=1)
    c_img, c_mask = synth_sample(64, 64, 6, seed=1)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    assert not np.array_equal(a_mask, c_mask)
    fractions = [synth_sample(64, 64, i)[1].mean() for i in range(20)]
    assert 0.02 < np.mean(fractions) < 0.6 and np.std(fractions) > 0.01
    assert a_img.dtype == np.uint8 and a_img.shape == (64, 64, 1)


def test_synthetic_splits_are_disjoint_and_sized():
    train, val = load_splits(DataConfig(synthetic_train=10, synthetic_val=4), SPEC)
    assert (len(train), len(val)) == (10, 4)
    images, labels = val.batch(range(4))
    assert images.shape == (4, 32, 32, 1) and labels.shape == (4, 32, 32)
    assert not np.array_equal(train.batch([0])[0], val.batch([0])[0])


def test_directory_dataset_seeded_split(tmp_path):
    make_directory_dataset(tmp_path, count=10, size=48)
    train, val = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.3, seed=1), SPEC)
    assert (len(train), len(val)) == (7, 3)
    names = {s.image.name for s in train.samples} | {s.image.name for s in val.samples}
    assert len(names) == 10
    again, _ = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.3, seed=1), SPEC)
    assert [s.image for s in again.samples] == [s.image for s in train.samples]
    images, labels = train.batch([0, 1])
    assert images.shape == (2, 32, 32, 1) and set(np.unique(labels)) <= {0, 1}


def test_explicit_train_val_directories(tmp_path):
    make_directory_dataset(tmp_path / "train", count=3)
    make_directory_dataset(tmp_path / "val", count=2)
    train, val = load_splits(DataConfig(source=str(tmp_path)), SPEC)
    assert (len(train), len(val)) == (3, 2)


def test_formats_bit_depths_and_channels(tmp_path):
    gradient = np.tile(np.linspace(0, 65535, 40).astype(np.uint16), (40, 1))
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:20] = 1  # any non-zero value is foreground
    write_pair(tmp_path, "sixteen", gradient, mask, suffix=".tif")
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 255
    write_pair(tmp_path, "colour", rgb, mask * 200, suffix=".jpg")
    train, val = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.5), SPEC)
    for data in (train, val):
        image, labels = data.sample(0)
        assert image.shape == (32, 32, 1) and 0.0 <= image.min() <= image.max() <= 1.0
        assert set(np.unique(labels)) == {0, 1}
    sixteen = next(d for d in (train, val) if d.samples[0].image.suffix == ".tif")
    image, _ = sixteen.sample(0)
    assert image[0, -1, 0] > 0.95 and image[0, 0, 0] < 0.05  # 16-bit range mapped to [0, 1]


def test_normalization_modes():
    pixels = np.array([[0, 255]], np.uint8)
    assert prepare_image(pixels, PreprocessSpec(1, 2, normalize="0-1")).ravel().tolist() == [0.0, 1.0]
    assert prepare_image(pixels, PreprocessSpec(1, 2, normalize="-1-1")).ravel().tolist() == [-1.0, 1.0]
    rgb = prepare_image(np.stack([pixels] * 3, -1), PreprocessSpec(1, 2, channels=3))
    assert rgb.shape == (1, 2, 3)


def test_masks_resize_without_new_labels(tmp_path):
    labels = np.zeros((50, 50), np.uint8)
    labels[:, 25:] = 2
    labels[:10] = 1
    write_pair(tmp_path, "a", np.zeros((50, 50), np.uint8), labels)
    write_pair(tmp_path, "b", np.zeros((50, 50), np.uint8), labels)
    train, _ = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.5), PreprocessSpec(32, 32, classes=3))
    assert set(np.unique(train.sample(0)[1])) == {0, 1, 2}


def test_mask_label_beyond_classes_is_a_data_error(tmp_path):
    labels = np.full((40, 40), 7, np.uint8)
    write_pair(tmp_path, "a", np.zeros((40, 40), np.uint8), labels)
    write_pair(tmp_path, "b", np.zeros((40, 40), np.uint8), labels)
    train, _ = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.5), PreprocessSpec(32, 32, classes=3))
    with pytest.raises(DataError, match="label 7"):
        train.sample(0)


def test_augmentation_keeps_shapes_and_label_set():
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).random((32, 32, 1)).astype(np.float32)
    labels = np.zeros((32, 32), np.int32)
    labels[8:24, 8:24] = 1
    seen_changed = False
    for _ in range(20):
        aug_image, aug_labels = augment(image, labels, rng)
        assert aug_image.shape == image.shape and aug_labels.shape == labels.shape
        assert set(np.unique(aug_labels)) <= {0, 1}
        assert 0.0 <= aug_image.min() and aug_image.max() <= 1.0
        seen_changed |= not np.array_equal(aug_labels, labels)
    assert seen_changed


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "not found"),
    (lambda root: ((root / "images").mkdir(parents=True), (root / "masks").mkdir()), "no images"),
    (lambda root: (make_directory_dataset(root, 2), (root / "images" / "img00.png").unlink()), "mask without an image"),
    (lambda root: (make_directory_dataset(root, 2), (root / "masks" / "img00.png").unlink()), "image without a mask"),
    (lambda root: (make_directory_dataset(root, 2), (root / "images" / "img01.png").write_bytes(b"not a png")),
     "cannot read image"),
])
def test_bad_directories_raise_clear_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError, match=message):
        load_splits(DataConfig(source=str(root)), SPEC)


def test_write_dataset_round_trips(tmp_path):
    train, _ = load_splits(DataConfig(synthetic_train=3, synthetic_val=1), SPEC)
    assert write_dataset(train, tmp_path) == 3
    mask = np.asarray(Image.open(tmp_path / "masks" / "00000.png"))
    assert set(np.unique(mask)) <= {0, 255}
    again, _ = load_splits(DataConfig(source=str(tmp_path), val_fraction=0.34), SPEC)
    assert len(again) == 2


def test_oversampling_flags_foreground():
    train, _ = load_splits(DataConfig(synthetic_train=6, synthetic_val=1), SPEC)
    assert train.foreground_flags().dtype == bool


def test_float_images_far_above_one_are_refused_not_saturated(tmp_path):
    """Issue 24: a float32 TIFF of raw counts read as 0..1 put 99% of its pixels at 1.0, silently."""
    from edgeseg.data.preprocess import to_unit_float

    counts = np.linspace(0, 4095, 64 * 64, dtype=np.float32).reshape(64, 64)
    with pytest.raises(DataError, match=r"raw.tif is a float image with values 0\.\.4095"):
        to_unit_float(counts, "raw.tif")
    with pytest.raises(DataError, match="NaN"):
        to_unit_float(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(DataError, match="-1..1"):
        to_unit_float(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4))
    unit = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert np.array_equal(to_unit_float(unit)[..., 0], unit)  # 0..1 floats pass unchanged
    assert to_unit_float(unit * 1.005).max() == 1.0  # resampling overshoot is clipped, not refused


def test_a_float_tiff_dataset_names_the_file(tmp_path):
    write_pair(tmp_path / "d", "a", np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))
    write_pair(tmp_path / "d", "b", np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))
    (tmp_path / "d" / "images" / "b.png").unlink()
    Image.fromarray(np.full((16, 16), 900.0, np.float32), mode="F").save(tmp_path / "d" / "images" / "b.tif")
    train, val = load_splits(DataConfig(source=str(tmp_path / "d"), val_fraction=0.5), PreprocessSpec(16, 16))
    with pytest.raises(DataError, match=r"b\.tif is a float image"):
        for data in (train, val):
            for i in range(len(data)):
                data.unit_sample(i)
