"""``edgeconsole run`` on bad input says so (issue 13, "Also found"): a truncated video
gives a warning in the JSON and a non-zero exit, a text file named .onnx is called
what it is. Real files, the real pipeline, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeconsole.cli.main import main

#: edgeconsole.cli.run_cmd.EXIT_INCOMPLETE (spelled out: this test predates it).
EXIT_INCOMPLETE = 3
DIGITS = Path(__file__).resolve().parents[2] / "sample_models" / "digits"


def _video(path: Path, frames: int = 60) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(frames):
        w.write(np.full((120, 160, 3), (i * 4) % 255, np.uint8))
    w.release()
    return path


def test_a_truncated_video_warns_in_the_json_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], journal_home: Path
) -> None:
    whole = _video(tmp_path / "whole.avi")
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    rc = main(["run", "--source", str(cut), "--model", str(DIGITS), "--json"])
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert rc == EXIT_INCOMPLETE
    assert summary["input_complete"] is False
    assert len(summary["warnings"]) == 1 and "of 60 frames" in summary["warnings"][0]
    assert "file truncated or damaged" in out.err
    # The whole file: no warning, exit 0.
    assert main(["run", "--source", str(whole), "--model", str(DIGITS), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["warnings"] == [] and summary["input_complete"] is True


def test_unreadable_images_in_a_folder_are_a_warning_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], journal_home: Path
) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 32, 3), 200, np.uint8))
    (folder / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    rc = main(["run", "--source", str(folder), "--model", str(DIGITS), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == EXIT_INCOMPLETE and summary["frames"] == 3
    assert summary["warnings"] == ["1 unreadable image(s) skipped: 9.png"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"hello\n", "text ('hello')"),
        (b'{"spec": "edgeconsole.model/1"}', "JSON text (a model description?"),
        (b"PK\x03\x04" + b"\0" * 40, "a ZIP archive"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a PNG image"),
        (b"\x00\x01\x02\xfe" * 10, "binary data that is not an ONNX model"),
        (b"", "nothing (the file is empty)"),
    ],
)
def test_a_file_named_onnx_that_is_not_onnx_is_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    journal_home: Path,
    content: bytes,
    said: str,
) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(content)
    rc = main(["run", "--source", str(tmp_path), "--model", str(fake)])
    err = capsys.readouterr().err
    assert rc == 1 and f"not an ONNX model: the file holds {said}" in err, err
    # The same file behind a model.json: the engine names it too, not onnxruntime.
    if content:
        folder = tmp_path / "m"
        folder.mkdir()
        (folder / "model.onnx").write_bytes(content)
        (folder / "model.json").write_text((DIGITS / "model.json").read_text())
        rc = main(["run", "--source", str(tmp_path), "--model", str(folder)])
        err = capsys.readouterr().err
        assert rc == 1 and "not an ONNX model: the file holds" in err, err
        assert "ONNXRuntimeError" not in err
