"""UI test set-up: settings never leave a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True, scope="session")
def _isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Redirect every default-constructed QSettings to a temporary directory.

    The window only uses the QSettings it is given, but if anything ever builds
    one the default way it must not land in the technician's ~/.config.
    """
    root = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(root))
    yield root


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "edgeconsole-test.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def session() -> Iterator[object]:
    from edgeconsole.session.session import Session

    s = Session()
    yield s
    s.close()


@pytest.fixture
def window(qtbot: object, session: object, settings: QSettings) -> Iterator[object]:
    from edgeconsole.ui.main_window import MainWindow

    w = MainWindow(session, settings)  # type: ignore[arg-type]
    qtbot.addWidget(w)  # type: ignore[attr-defined]
    w.resize(1400, 900)
    w.show()
    yield w
    w.close()
