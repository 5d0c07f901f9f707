"""What every screenshot script shares: a throwaway app home, waiting on a condition
while Qt runs, and saving a widget's picture."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget


def temp_home(prefix: str = "edgeconsole-shots-") -> Path:
    """App data and settings in a temporary folder: the person's own are never touched."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("EDGECONSOLE_HOME", str(home))
    os.environ.setdefault("EDGECONSOLE_CONFIG_DIR", str(home / "config"))
    return home


def spin(cond: Callable[[], object], timeout: float) -> bool:
    """Run Qt's event loop until ``cond()`` holds (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        QTest.qWait(20)
    return True


def wait(cond: Callable[[], object], timeout: float = 120.0) -> None:
    """``spin``, and stop the script when the condition never came."""
    if not spin(cond, timeout):
        raise SystemExit("timed out waiting for the window")


def save(widget: QWidget, out: Path, name: str) -> Path:
    QTest.qWait(80)  # let layouts and pending paints settle
    path = out / name
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    return path
