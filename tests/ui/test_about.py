"""About dialog: real versions from package metadata, real licence texts, hostile licences files."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication

import edgeconsole
from edgeconsole.ui import about
from edgeconsole.ui.about import (
    AboutDialog,
    Licence,
    LicencesFileError,
    collect_licences,
    collect_versions,
    load_licences,
    write_licences,
)

REPO = Path(edgeconsole.__file__).resolve().parent.parent


def test_versions_come_from_metadata_without_importing_heavy_packages() -> None:
    v = collect_versions()
    assert v["EdgeConsole"] == edgeconsole.__version__
    assert v["Qt"] == qVersion()
    assert v["onnxruntime"] == metadata.version("onnxruntime")
    assert v["OpenCV"] == metadata.version("opencv-python-headless")
    assert v["numpy"] == metadata.version("numpy")
    assert v["PySide6"] == metadata.version("PySide6-Essentials")
    assert v["Python"].count(".") == 2


def test_runtime_distributions_are_the_app_and_its_requirements_not_dev_tools() -> None:
    names = {about._norm(d) for d in about.runtime_distributions()}
    for wanted in (
        "pyside6-essentials",
        "shiboken6",
        "onnxruntime",
        "numpy",
        "pyqtgraph",
        "opencv-python-headless",
        "pyserial",
        "cryptography",
        "mcap",
    ):
        assert wanted in names
    for dev in ("pytest", "hypothesis", "ruff", "mypy", "scikit-learn", "pyinstaller"):
        assert dev not in names


def test_every_bundled_component_has_a_licence_text() -> None:
    lics = about.gather_licences(about.runtime_distributions())
    missing = [lic.name for lic in lics if not lic.text.strip()]
    assert missing == []
    by_name = {lic.name: lic for lic in lics}
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in by_name["Qt"].text
    assert by_name["EdgeConsole"].kind == "application"
    assert "PYTHON SOFTWARE FOUNDATION" in by_name["Python"].text.upper()


def test_sample_model_licences_are_the_files_in_sample_models() -> None:
    models = about.sample_model_licences(REPO)
    folders = sorted(p.parent.name for p in (REPO / "sample_models").glob("*/LICENSE"))
    assert [m.name for m in models] == [f"sample model: {f}" for f in folders]
    assert len(models) >= 3
    for m in models:
        folder = m.name.removeprefix("sample model: ")
        assert m.text == (REPO / "sample_models" / folder / "LICENSE").read_text()


def test_dialog_shows_versions_and_licence_texts(qtbot: Any) -> None:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    text = dialog.versions_view.toPlainText()
    for label in ("EdgeConsole", "Qt", "PySide6", "onnxruntime", "OpenCV", "numpy", "Python"):
        assert label in text
    assert dialog.licence_list.count() == len(dialog.licences)
    assert dialog.select_licence("sample model: digits")
    assert dialog.tabs.currentIndex() == 1
    digits = (REPO / "sample_models" / "digits" / "LICENSE").read_text()
    assert dialog.licence_text.toPlainText() == digits
    assert dialog.select_licence("onnxruntime")
    assert "MIT License" in dialog.licence_text.toPlainText()
    assert not dialog.select_licence("no-such-component")
    dialog.copy_versions()
    assert QApplication.clipboard().text() == dialog.versions_text()


def test_show_about_does_not_block(qtbot: Any) -> None:
    dialog = about.show_about(None)
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    dialog.close()


def test_generated_file_round_trips_and_is_used_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lics = [
        Licence("thing", "1.0", "MIT", "text ü", "library"),
        Licence("sample model: x", "", "CC BY 4.0", "attribution", "sample model"),
    ]
    path = write_licences(tmp_path / "licences.json", lics)
    assert load_licences(path) == lics
    monkeypatch.setattr(about, "licences_path", lambda: path)
    assert collect_licences() == lics
    assert about._bundled_versions() == {"thing": "1.0", "sample model: x": ""}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"format": "edgeconsole.licences/1", "licences": [', "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b'{"format": "other/9", "licences": []}', "is not an"),
        (b"[1, 2]", "is not an"),
        (b'{"format": "edgeconsole.licences/1", "licences": {}}', "must be a list"),
        (b'{"format": "edgeconsole.licences/1", "licences": [{"name": "a"}]}', "entry 0"),
        (
            b'{"format": "edgeconsole.licences/1", "licences": [{"name": 1, "version": "",'
            b' "licence": "", "text": "", "kind": ""}]}',
            "entry 0",
        ),
        (
            b'{"format": "edgeconsole.licences/1", "licences": [{"name": "a", "version": "",'
            b' "licence": "", "text": "", "kind": "", "evil": "x"}]}',
            "entry 0",
        ),
    ],
)
def test_hostile_licences_file_is_refused(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "licences.json"
    path.write_bytes(content)
    with pytest.raises(LicencesFileError, match=why):
        load_licences(path)


def test_oversized_and_unreadable_licences_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(about, "MAX_LICENCES_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"format": about.LICENCES_FORMAT, "licences": [], "pad": "x" * 2000}))
    with pytest.raises(LicencesFileError, match="larger than"):
        load_licences(big)
    with pytest.raises(LicencesFileError, match="cannot read"):
        load_licences(tmp_path)  # a folder, not a file


def test_broken_generated_file_falls_back_to_live_gathering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "licences.json"
    broken.write_bytes(b"{truncated")
    monkeypatch.setattr(about, "licences_path", lambda: broken)
    lics = collect_licences()
    assert {"EdgeConsole", "Qt", "Python"} <= {lic.name for lic in lics}
    assert collect_versions()["onnxruntime"] == metadata.version("onnxruntime")


def test_write_licences_command(tmp_path: Path) -> None:
    out = tmp_path / "licences.json"
    assert about.main(["--write-licences", str(out), "--dists", "numpy", "pyserial"]) == 0
    names = [lic.name for lic in load_licences(out)]
    assert names[:3] == ["EdgeConsole", "Python", "Qt"]
    assert "numpy" in names and "pyserial" in names
