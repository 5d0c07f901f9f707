"""Regression guard for the PySide6 6.12 refcount bug (DESIGN section 9).

PySide6 6.12.0 on Python 3.11 drops a reference to ``True`` on every
``Signal.emit(True)``; after a few thousand emits ``bool_dealloc`` aborts the
process. A live plot emits that often within seconds.
"""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    toggled = Signal(bool)


def test_installed_pyside6_is_6_11() -> None:
    major, minor = (int(x) for x in PySide6.__version__.split(".")[:2])
    assert (major, minor) == (6, 11), (
        f"PySide6 {PySide6.__version__} installed; pin PySide6-Essentials/Addons to 6.11.x"
    )


def test_signal_bool_emit_keeps_refcount_of_true(qapp: object) -> None:
    emitter = _Emitter()
    received: list[bool] = []
    emitter.toggled.connect(received.append)
    emits = 20_000
    # Warm up first so caches built on the first emits do not count as drift.
    for _ in range(100):
        emitter.toggled.emit(True)
    received.clear()
    before = sys.getrefcount(True)
    for _ in range(emits):
        emitter.toggled.emit(True)
    # ``received`` holds emits references to True; drop them before measuring.
    assert len(received) == emits and all(received)
    received.clear()
    after = sys.getrefcount(True)
    # On 3.12+ True is immortal and the count is a constant; on 3.11 a leak or
    # a lost reference shows as a drift of about one per emit.
    assert abs(after - before) < 50, f"refcount of True drifted by {after - before}"
