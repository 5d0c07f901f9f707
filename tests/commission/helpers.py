"""Small datasets for the commissioning tests, copied from the committed sample sets."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / "sample_models" / "datasets"
DIGITS_SET = DATASETS / "digits"
LABEL_SET = DATASETS / "label_inspector"
DIGITS_BUNDLE = REPO / "sample_models" / "bundles" / "digits-1.ecb"
LABEL_BUNDLE = REPO / "sample_models" / "bundles" / "label-inspector-1.ecb"
DIGITS_MODEL = REPO / "sample_models" / "digits"
LABEL_MODEL = REPO / "sample_models" / "label_inspector"
TRUST = REPO / "sample_models" / "trust"


def subset(src: Path, dest: Path, per_class: int) -> Path:
    """The first ``per_class`` images of each class folder (and dataset.json)."""
    dest.mkdir(parents=True, exist_ok=True)
    for sub in sorted(p for p in src.iterdir() if p.is_dir()):
        (dest / sub.name).mkdir()
        for f in sorted(sub.iterdir())[:per_class]:
            shutil.copyfile(f, dest / sub.name / f.name)
    if (src / "dataset.json").is_file():
        shutil.copyfile(src / "dataset.json", dest / "dataset.json")
    return dest
