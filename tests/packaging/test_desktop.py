"""Desktop integration: the .desktop entry, the icons, and the per-user install script."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]
ICONS = REPO / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def read_desktop(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read_string(path.read_text(encoding="utf-8"))
    return cp


def test_desktop_entry_has_what_menus_need() -> None:
    cp = read_desktop(REPO / "packaging" / "edgeconsole.desktop")
    e = cp["Desktop Entry"]
    assert e["Type"] == "Application" and e["Name"] == "EdgeConsole"
    assert e["Exec"].split()[0] == "edgeconsole" and e["Icon"] == "edgeconsole"
    assert e["Terminal"] == "false" and e["Categories"].endswith(";")
    assert cp["Desktop Action SelfTest"]["Exec"] == "edgeconsole --self-test"


def test_icons_render_at_every_size() -> None:
    from PySide6.QtSvg import QSvgRenderer

    assert QSvgRenderer(str(ICONS / "edgeconsole.svg")).isValid()
    for size in SIZES:
        img = QImage(str(ICONS / f"edgeconsole-{size}.png"))
        assert not img.isNull() and (img.width(), img.height()) == (size, size)
        assert img.hasAlphaChannel()
        corner = img.pixelColor(0, 0)
        centre = img.pixelColor(size // 2, size // 2)
        assert corner.alpha() == 0 and centre.alpha() == 255  # rounded, not a blank square


def make_app_folder(root: Path) -> Path:
    """The layout of the frozen app's folder, with the real launcher as its executable."""
    app = root / "edgeconsole app"
    (app / "_internal" / "resources").mkdir(parents=True)
    shutil.copytree(ICONS, app / "_internal" / "resources" / "icons")
    for name in ("edgeconsole.desktop", "install-desktop.sh"):
        shutil.copy2(REPO / "packaging" / name, app / name)
    os.symlink(REPO / ".venv" / "bin" / "edgeconsole", app / "edgeconsole")
    return app


def test_install_script_adds_and_removes_the_menu_entry(tmp_path: Path) -> None:
    app = make_app_folder(tmp_path)
    data = tmp_path / "data"
    env = dict(os.environ, XDG_DATA_HOME=str(data))
    subprocess.run(
        [str(app / "install-desktop.sh")], check=True, env=env, timeout=60, capture_output=True
    )
    entry = data / "applications" / "edgeconsole.desktop"
    e = read_desktop(entry)["Desktop Entry"]
    assert e["Exec"] == f'"{app}/edgeconsole"'  # absolute and quoted: the path has a space
    assert e["TryExec"] == f"{app}/edgeconsole"
    for size in SIZES:
        assert (
            data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "edgeconsole.png"
        ).is_file()
    version = subprocess.run(
        [e["TryExec"], "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("edgeconsole ")
    subprocess.run(
        [str(app / "install-desktop.sh"), "--remove"],
        check=True,
        env=env,
        timeout=60,
        capture_output=True,
    )
    assert not entry.exists()
    assert not (data / "icons" / "hicolor" / "48x48" / "apps" / "edgeconsole.png").exists()


@pytest.mark.parametrize("bad", ['we"ird', "dol$lar", "per%cent", "back\\slash"])
def test_install_script_refuses_paths_it_cannot_quote(tmp_path: Path, bad: str) -> None:
    app = make_app_folder(tmp_path / bad)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run(
        [str(app / "install-desktop.sh")], env=env, timeout=60, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "move the folder" in proc.stderr
    assert not (tmp_path / "data" / "applications" / "edgeconsole.desktop").exists()
