"""`edgeseg data synth` and `edgeseg data import-coco`: write a directory dataset
(images/ and masks/) from the built-in generator or from COCO instance annotations."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import TASK_CHOICES, DataConfig, ModelConfig

SYNTH_COUNT = 200  # image/mask pairs
SYNTH_SIZE = 128  # pixels, height and width


def _cmd_synth(a: argparse.Namespace) -> int:
    from ..config import PreprocessSpec
    from ..data.dataset import Sample, SegmentationData, write_dataset
    from ..errors import UsageError
    from ..outputs import atomic_output_dir
    from ..safety import finite

    if a.count < 1 or a.size < 8:
        raise UsageError("--count must be >= 1 and --size >= 8")
    finite("--size", a.size)  # an unbounded size grew to 23 GB before the OOM killer stopped it
    finite("--count", a.count)
    spec = PreprocessSpec(a.size, a.size, a.channels, classes=a.classes)
    from ..data.instance_data import InstanceData, write_instance_dataset

    # --task -> (its synthetic data, its writer); instance: touching objects, masks as 16-bit instance ids
    makers = {"semantic": (SegmentationData, write_dataset), "instance": (InstanceData, write_instance_dataset)}
    make, write = makers[a.task]
    data = make([Sample(None, None, i) for i in range(a.count)], spec, a.seed)
    with atomic_output_dir(Path(a.out), a.force) as tmp:
        n = write(data, tmp)
    print(f"wrote {n} synthetic image/mask pairs to {a.out}")
    return 0


def _cmd_import_coco(a: argparse.Namespace) -> int:
    from ..instances.coco_import import import_coco

    n = import_coco(Path(a.annotations), Path(a.images), Path(a.out), force=a.force)
    print(f"wrote {n} images and 16-bit instance masks to {a.out}")
    return 0


def add_data_parsers(sub) -> None:
    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the built-in synthetic data as a directory dataset")
    s.add_argument("--out", required=True, help="the directory dataset to write (images/, masks/)")
    s.add_argument("--count", type=int, default=SYNTH_COUNT, help="image/mask pairs to write")
    s.add_argument("--size", type=int, default=SYNTH_SIZE, help="height and width in pixels")
    s.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 (gray) or 3 (RGB)")
    s.add_argument("--classes", type=int, default=1, help="foreground classes in the masks")
    s.add_argument("--task", choices=TASK_CHOICES, default=ModelConfig.task, help="instance: 16-bit instance-id masks")
    s.add_argument("--seed", type=int, default=DataConfig.seed, help="seed of the generator")
    s.add_argument("--force", action="store_true", help="replace an existing --out")
    s.set_defaults(func=_cmd_synth)
    ic = dsub.add_parser("import-coco", help="COCO instance annotations -> images/ + 16-bit instance masks/")
    ic.add_argument("annotations", help="COCO JSON (polygons or RLE; iscrowd regions are ignored)")
    ic.add_argument("images", help="the directory holding the images it lists")
    ic.add_argument("--out", required=True, help="the directory dataset to write (images/, masks/)")
    ic.add_argument("--force", action="store_true", help="replace an existing --out")
    ic.set_defaults(func=_cmd_import_coco)
