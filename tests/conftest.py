"""Shared test set-up. Fixtures of each area live in tests/fixtures/<area>.py and are
registered here, so any test can use the pty device, the loopback agent, the
sample bundles or the signing keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Before any test or fixture loads onnxruntime: telemetry off (edgeconsole/core/offline.py).
import edgeconsole  # noqa: F401

# Qt aborts without a display; every test runs offscreen unless told otherwise.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Live line runs ask for real-time priority by default (core/sched.py): two xdist
# workers' real-time threads would starve each other and the rest of the suite. The
# tests of that path set it themselves.
os.environ.setdefault("EDGECONSOLE_RT_PRIORITY", "0")

# The default run is reproducible: hypothesis draws the same examples on every machine,
# so CI fails only on a real change (EDGECONSOLE_HYPOTHESIS=random explores instead;
# the long fuzz mode in tests/fuzz is always random).
settings.register_profile("default-run", derandomize=True, database=None)
settings.register_profile("random", database=None)
settings.load_profile(
    "random" if os.environ.get("EDGECONSOLE_HYPOTHESIS") == "random" else "default-run"
)


@pytest.fixture(autouse=True)
def _private_app_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Journal, keys, settings and recordings of every test stay in a temp folder,
    never in the person's own app data (subprocesses inherit it)."""
    home = tmp_path_factory.mktemp("edgeconsole-home")
    monkeypatch.setenv("EDGECONSOLE_HOME", str(home))
    yield home


@pytest.fixture(autouse=True)
def _qt_garbage_on_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a test with a Qt application, cycles are collected on the window's thread only,
    as the app does (edgeconsole/ui/gui_gc.py: a session thread's collection freeing a
    window's Qt object deadlocked a clean-clone run). Other tests keep automatic
    collection: an xdist worker runs both kinds."""
    if not {"qapp", "qtbot"} & set(request.fixturenames):
        yield
        return
    request.getfixturevalue("qapp")
    from edgeconsole.ui.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector().start()
    try:
        yield
    finally:
        # After the test's windows are closed (this fixture is set up first, torn down
        # last): what they left in cycles dies here, on the window's thread.
        collector.stop()


pytest_plugins: list[str] = [
    "tests.fixtures.journal",
    "tests.fixtures.sources",
    "tests.fixtures.bundles",
    "tests.fixtures.onnx_models",
    "tests.fixtures.gateway",
    "tests.fixtures.serial",
    "tests.fixtures.faults",
    "tests.fixtures.plc",
    "tests.fixtures.stock",
    "tests.fixtures.offline",
    "tests.fixtures.cameras",
]
