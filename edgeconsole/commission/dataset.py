"""A labelled validation set: per-class subfolders, or a CSV of ``file,label``.

Layouts accepted for ``--dataset``:

- ``DIR/<label>/*.png|jpg|jpeg|bmp`` (one subfolder per class; hidden entries skipped);
- ``DIR/labels.csv`` or a ``.csv`` file given directly: rows ``file,label`` with
  paths relative to the CSV's folder (a ``file,label`` header row is allowed).

Optional ``DIR/dataset.json`` names the set and, for models whose output is a
part verdict (the label inspector), maps verdicts to the set's class names:
``{"name": "...", "verdict_map": {"ok": "upright", ...}}``.

Nothing is decoded here: an unreadable image is counted and reported by the run,
never fatal. What *is* fatal, before any inference: no samples at all, a CSV that
is not ``file,label``, a path that leaves the dataset folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
CSV_NAME = "labels.csv"
META_NAME = "dataset.json"
MAX_SAMPLES = 100_000
MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_META_BYTES = 64 * 1024
MAX_LABEL = 100


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    label: str
    rel: str  # path relative to the dataset root, for reports


@dataclass
class Dataset:
    root: Path
    samples: list[Sample]
    layout: str  # "folders" or "csv"
    name: str = ""
    verdict_map: dict[str, str] | None = None
    ignored: list[str] = field(default_factory=list)  # files that are not images

    @property
    def classes(self) -> list[str]:
        return sorted({s.label for s in self.samples})

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.label] = out.get(s.label, 0) + 1
        return dict(sorted(out.items()))

    def fingerprint(self) -> str:
        """sha256 over (path, label, file sha256) of every sample: which set was run."""
        h = hashlib.sha256()
        for s in sorted(self.samples, key=lambda s: s.rel):
            try:
                digest = hashlib.sha256(s.path.read_bytes()).hexdigest()
            except OSError:
                digest = "unreadable"
            h.update(f"{s.rel}\t{s.label}\t{digest}\n".encode())
        return h.hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "name": self.name or self.root.name,
            "layout": self.layout,
            "samples": len(self.samples),
            "classes": self.counts(),
            "ignored_files": len(self.ignored),
        }


def _label(raw: str, where: str) -> str:
    label = raw.strip()
    if not label:
        raise ConfigError("empty label", subject=where, hint="every sample needs a class label")
    if len(label) > MAX_LABEL or any(ord(c) < 32 for c in label):
        raise ConfigError(
            "label is too long or has control characters",
            subject=where,
            hint=f"use a short class name (at most {MAX_LABEL} characters)",
        )
    return label


def _inside(root: Path, rel: str, where: str) -> Path:
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or not rel.strip():
        raise ConfigError(
            f"path {rel!r} leaves the dataset folder",
            subject=where,
            hint="give paths relative to the CSV's folder, without '..'",
        )
    return root / p


def _read_meta(root: Path) -> tuple[str, dict[str, str] | None]:
    meta = root / META_NAME
    if not meta.is_file():
        return "", None
    where = str(meta)
    raw = meta.read_bytes()
    if len(raw) > MAX_META_BYTES:
        raise ConfigError("dataset.json is too large", subject=where)
    try:
        obj = loads_bounded(raw, max_bytes=MAX_META_BYTES, what="dataset.json")
    except JSONRefused as exc:
        raise ConfigError(exc.what, subject=where) from exc
    if not isinstance(obj, dict):
        raise ConfigError("dataset.json must be an object", subject=where)
    unknown = sorted(set(obj) - {"name", "description", "verdict_map", "generator"})
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)} in dataset.json",
            subject=where,
            hint="allowed: name, description, verdict_map, generator",
        )
    name = obj.get("name", "")
    if not isinstance(name, str):
        raise ConfigError("dataset.json: name must be text", subject=where)
    vm = obj.get("verdict_map")
    if vm is not None:
        if not isinstance(vm, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in vm.items()
        ):
            raise ConfigError(
                "dataset.json: verdict_map must map verdict text to a class name",
                subject=where,
                hint='e.g. {"ok": "upright", "rotated 180": "rotated"}',
            )
        vm = {k: _label(v, where) for k, v in vm.items()}
    return name, vm


def _from_csv(csv_path: Path) -> tuple[list[Sample], Path]:
    where = str(csv_path)
    root = csv_path.parent
    try:
        size = csv_path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise ConfigError(
                f"CSV is {size} bytes (limit {MAX_CSV_BYTES})",
                subject=where,
                hint="split the dataset",
            )
        text = csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("CSV is not UTF-8 text", subject=where) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read CSV: {exc.strerror or exc}", subject=where) from exc
    samples: list[Sample] = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ConfigError(f"CSV is malformed: {exc}", subject=where) from exc
    for n, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]:
            continue
        if len(row) != 2:
            raise ConfigError(
                f"line {n} has {len(row)} fields, expected 2 (file,label)",
                subject=where,
                hint="one sample per line: file,label",
            )
        rel = row[0].strip()
        path = _inside(root, rel, f"{where}:{n}")
        samples.append(Sample(path, _label(row[1], f"{where}:{n}"), rel))
        if len(samples) > MAX_SAMPLES:
            raise ConfigError(f"more than {MAX_SAMPLES} samples", subject=where)
    return samples, root


def _from_folders(root: Path) -> tuple[list[Sample], list[str]]:
    samples: list[Sample] = []
    ignored: list[str] = []
    for sub in sorted(root.iterdir()):
        if sub.name.startswith(".") or not sub.is_dir() or sub.is_symlink():
            continue
        label = _label(sub.name, str(sub))
        for f in sorted(sub.iterdir()):
            if f.name.startswith(".") or not f.is_file():
                continue
            rel = f"{sub.name}/{f.name}"
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                ignored.append(rel)
                continue
            samples.append(Sample(f, label, rel))
            if len(samples) > MAX_SAMPLES:
                raise ConfigError(f"more than {MAX_SAMPLES} samples", subject=str(root))
    return samples, ignored


def load_dataset(path: str | Path) -> Dataset:
    """Read the sample list (not the images) and refuse what cannot be a dataset."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            "dataset not found",
            subject=str(p),
            hint="give a folder with one subfolder per class, or a CSV of file,label",
        )
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise ConfigError(
                "a dataset file must be a CSV of file,label",
                subject=str(p),
                hint="or give a folder with one subfolder per class",
            )
        samples, root = _from_csv(p)
        name, vm = _read_meta(root)
        ds = Dataset(root, samples, "csv", name, vm)
    elif (p / CSV_NAME).is_file():
        samples, root = _from_csv(p / CSV_NAME)
        name, vm = _read_meta(p)
        ds = Dataset(p, samples, "csv", name, vm)
    else:
        samples, ignored = _from_folders(p)
        name, vm = _read_meta(p)
        ds = Dataset(p, samples, "folders", name, vm, ignored)
    if not ds.samples:
        raise ConfigError(
            "dataset has no images",
            subject=str(p),
            hint="put images (png, jpg, bmp) in one subfolder per class, or list them in "
            f"{CSV_NAME} as file,label",
        )
    return ds
