"""Dataset reading: both layouts, and refusals of what cannot be a dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeconsole.commission.dataset import load_dataset
from edgeconsole.core.errors import ConfigError
from tests.commission.helpers import DIGITS_SET, LABEL_SET


def test_sample_sets_load_with_their_classes() -> None:
    d = load_dataset(DIGITS_SET)
    assert d.layout == "folders"
    assert d.classes == [str(i) for i in range(10)]
    assert set(d.counts().values()) == {20}
    li = load_dataset(LABEL_SET)
    assert li.classes == ["missing", "rotated", "smudged", "upright"]
    assert li.verdict_map is not None and li.verdict_map["rotated 180"] == "rotated"
    assert len(li.samples) == 80


def test_fingerprint_changes_with_a_label_or_a_byte(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"one")
    f1 = load_dataset(tmp_path).fingerprint()
    (tmp_path / "a" / "x.png").write_bytes(b"two")
    f2 = load_dataset(tmp_path).fingerprint()
    (tmp_path / "a").rename(tmp_path / "b")
    f3 = load_dataset(tmp_path).fingerprint()
    assert len({f1, f2, f3}) == 3


def test_csv_layout_with_header_comments_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for n in ("a.png", "b.png"):
        (tmp_path / "img" / n).write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(
        "file,label\n# a comment\nimg/a.png,cat\n\nimg/b.png, dog \n"
    )
    d = load_dataset(tmp_path)
    assert d.layout == "csv"
    assert [(s.rel, s.label) for s in d.samples] == [("img/a.png", "cat"), ("img/b.png", "dog")]
    # a CSV file given directly works the same
    assert len(load_dataset(tmp_path / "labels.csv").samples) == 2


def test_non_images_are_ignored_and_listed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"x")
    d = load_dataset(tmp_path)
    assert [s.rel for s in d.samples] == ["a/x.png"]
    assert d.ignored == ["a/notes.txt"]


def _image(p: Path) -> None:
    (p / "a").mkdir(exist_ok=True)
    (p / "a" / "x.png").write_bytes(b"x")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "dataset has no images"),
        (lambda p: (p / "a").mkdir(), "dataset has no images"),
        (lambda p: (p / "labels.csv").write_text("file,label\n"), "dataset has no images"),
        (lambda p: (p / "labels.csv").write_text("a.png\n"), "line 1 has 1 fields"),
        (lambda p: (p / "labels.csv").write_text("a.png,x,y\n"), "expected 2"),
        (lambda p: (p / "labels.csv").write_text("/etc/passwd,x\n"), "leaves the dataset"),
        (lambda p: (p / "labels.csv").write_text("../up.png,x\n"), "leaves the dataset"),
        (lambda p: (p / "labels.csv").write_text("a.png,\n"), "empty label"),
        (lambda p: (p / "labels.csv").write_text("a.png,bad\x01label\n"), "control characters"),
        (lambda p: (p / "labels.csv").write_bytes(b"\xff\xfe\x00bad"), "not UTF-8"),
        (lambda p: (_image(p), (p / "dataset.json").write_text("{nope")), "not valid JSON"),
        (lambda p: (_image(p), (p / "dataset.json").write_text('{"evil": 1}')), "unknown field"),
        (
            lambda p: (_image(p), (p / "dataset.json").write_text('{"verdict_map": [1]}')),
            "verdict_map",
        ),
    ],
)
def test_refusals_say_what_is_wrong(
    tmp_path: Path, setup: Callable[[Path], object], message: str
) -> None:
    setup(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_dataset(tmp_path)


def test_missing_path_and_wrong_file_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dataset not found"):
        load_dataset(tmp_path / "nope")
    f = tmp_path / "x.json"
    f.write_text(json.dumps({}))
    with pytest.raises(ConfigError, match="must be a CSV"):
        load_dataset(f)


def test_oversized_csv_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeconsole.commission.dataset as ds

    monkeypatch.setattr(ds, "MAX_CSV_BYTES", 100)
    (tmp_path / "labels.csv").write_text("a.png,x\n" * 50)
    with pytest.raises(ConfigError, match="limit 100"):
        load_dataset(tmp_path)
