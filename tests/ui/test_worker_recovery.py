"""The window with the inference worker (issue 15): a real Qt window (offscreen), a
real spawned worker with onnxruntime; the worker is SIGKILLed mid-run and the
window shows why and keeps showing results. Waits on conditions, never durations."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from edgeconsole.session.session import Session, sample_models_dir
from edgeconsole.ui.main_window import MainWindow

CONVEYOR = "synthetic:conveyor?seed=3&width=320&height=180&fps=30"


@pytest.fixture
def worker_window(qtbot: object, settings: QSettings) -> Iterator[MainWindow]:
    session = Session(interactive=True, worker=True)
    w = MainWindow(session, settings)
    qtbot.addWidget(w)  # type: ignore[attr-defined]
    w.resize(1400, 900)
    w.show()
    yield w
    w.close()
    session.close()


def test_sigkill_of_the_worker_is_shown_and_results_flow_again(
    qtbot: object, worker_window: MainWindow, tmp_path: Path
) -> None:
    window = worker_window
    wait = qtbot.waitUntil  # type: ignore[attr-defined]
    window.choose_source(CONVEYOR)
    window.choose_model(str(sample_models_dir() / "digits"))
    window.start()
    wait(lambda: window.status.state == "running" and window.status.frames >= 5, timeout=120_000)
    worker = window.status.worker
    assert worker is not None and worker["pid"] != os.getpid()
    painted = window.live_view.frames_painted
    wait(lambda: window.live_view.frames_painted > painted, timeout=60_000)

    os.kill(worker["pid"], signal.SIGKILL)

    def shown() -> bool:
        return any("SIGKILL" in t for t in window.event_log.texts())

    wait(shown, timeout=60_000)
    assert window.message_bar.isVisible() and "SIGKILL" in window.message_bar.text.text()
    assert f"pid {worker['pid']}" in window.message_bar.text.text()
    frames = window.status.frames
    wait(
        lambda: (
            window.status.worker is not None
            and window.status.worker["restarts"] == 1
            and window.status.frames >= frames + 5
        ),
        timeout=120_000,
    )
    painted = window.live_view.frames_painted
    wait(lambda: window.live_view.frames_painted > painted, timeout=60_000)
    assert window.status.state == "running"
    assert window.status.worker["pid"] != worker["pid"]
    assert "SIGKILL" in (window.status.worker["last_death"] or "")
    shot = tmp_path / "worker-recovered.png"
    assert window.grab().save(str(shot))
