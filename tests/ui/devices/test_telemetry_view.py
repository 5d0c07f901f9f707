"""The telemetry view draws, once its plots are built, everything that came before."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from edgeconsole.session.device_telemetry import (
    ChannelStats,
    ShadowPoint,
    ShadowStatus,
    TelemetryBatch,
)
from edgeconsole.ui.deferred_plots import PLACEHOLDER_TEXT
from edgeconsole.ui.devices.telemetry_view import TelemetryView

URL = "serial:///dev/ttyTEST0"
CHANNELS = ("accel_x_g", "accel_y_g", "score")
SHADOW = ShadowStatus(available=True, reason="", bundle="vib v1", tolerance=0.05, compared=3)


def batch(start_s: float, n: int = 200, rate: float = 100.0) -> TelemetryBatch:
    """``n`` samples from ``start_s`` (real TelemetryBatch, as the session's poll makes)."""
    t = start_s + np.arange(n) / rate
    values = np.column_stack([np.sin(t), np.cos(t), 0.4 + 0.1 * np.sin(3 * t)])
    stats = tuple(
        ChannelStats(name, float(col.min()), float(col.max()), float(col.mean()), float(col[-1]))
        for name, col in zip(CHANNELS, values.T, strict=True)
    )
    shadow = tuple(
        ShadowPoint(float(x), 0.45, 0.44 + 0.02 * (i % 5)) for i, x in enumerate(t[::50])
    )
    return TelemetryBatch(
        url=URL,
        channels=CHANNELS,
        t=t,
        values=values,
        stats=stats,
        rate_hz=rate,
        samples=int((start_s + n / rate) * rate),
        dropped_lines=2,
        lost=0,
        log_lines=0,
        model_channel="score",
        threshold=0.47,
        shadow=shadow,
        shadow_status=SHADOW,
    )


def feed(view: TelemetryView, start_s: float, end_s: float) -> None:
    """Batches of 2 s as the window's ticks would hand them, each followed by a redraw."""
    s = start_s
    while s < end_s:
        view.add_batch(batch(s))
        view.redraw(force=True)
        s += 2.0


def curves(view: TelemetryView) -> dict[str, tuple[list[float], list[float]]]:
    out = {}
    for name in (*CHANNELS, "__shadow__"):
        x, y = view.series(name)
        out[name] = (list(x), list(y))
    return out


def test_batches_before_the_build_are_drawn_by_it(qtbot: QtBot) -> None:
    late, early = TelemetryView(), TelemetryView()
    qtbot.addWidget(late)
    qtbot.addWidget(early)
    early.build_plots()
    for view in (late, early):
        view.set_device(URL, "virtual device")
        feed(view, 0.0, 20.0)
    # Not built: nothing drawn, nothing lost, everything else shown.
    assert not late.plots_built and late.graphics is None
    assert late.plot_names() == [] and late.series("accel_x_g")[0].size == 0
    assert late.dirty and late.redraw(force=True) is False and late.redraws == 0
    assert late._ring.n == early._ring.n == 2000
    assert late.stats.rowCount() == 3 and late.stats.item(2, 0).text() == "score"
    assert late.rate_label.text() == early.rate_label.text() == "100.0 lines/s"
    assert late.dropped_label.text() == "dropped 2"
    assert "matches" in late.shadow_label.text()

    late.build_plots()
    assert late.plots_built and late.graphics is not None and not late.dirty
    assert late.plot_names() == early.plot_names()
    assert any("score" in n for n in late.plot_names())
    assert curves(late) == curves(early)
    x, _ = late.series("accel_x_g")
    assert x[0] <= 10.0 and x[-1] == 19.99  # the followed 10 s window, newest sample last
    assert len(late.series("__shadow__")[0]) == len(early.series("__shadow__")[0]) > 0
    assert late._threshold_line is not None and late._threshold_line.isVisible()
    assert late._threshold_line.value() == 0.47
    assert late._band is not None and late._band.getRegion() == (-0.05, 0.05)
    # After the build it behaves as the view that always had its plots.
    for view in (late, early):
        feed(view, 20.0, 24.0)
    assert curves(late) == curves(early) and late.series("accel_x_g")[0][-1] == 23.99


def test_paused_before_the_build_gets_the_whole_scroll_back(qtbot: QtBot) -> None:
    view = TelemetryView()
    qtbot.addWidget(view)
    view.set_device(URL)
    feed(view, 0.0, 20.0)
    view.set_paused(True)
    view.add_batch(batch(20.0))  # still arrives while paused
    view.build_plots()
    curve = view._curves["accel_y_g"]  # all it was handed; series() is what is in view
    assert len(curve.xData) == view._ring.n == 2200 and curve.xData[0] == 0.0
    x, _ = view.series("accel_y_g")
    assert x[-1] == 21.99 and x[0] >= 11.0  # showing the last window, as when it paused
    assert all(p.getViewBox().state["mouseEnabled"][0] for p in view._plots.values())
    view.set_paused(False)
    x, _ = view.series("accel_y_g")
    assert x[-1] == 21.99 and x[0] >= 11.0


def test_shown_view_builds_its_plots_after_its_first_paint(qtbot: QtBot) -> None:
    view = TelemetryView()
    qtbot.addWidget(view)
    view.set_device(URL)
    view.add_batch(batch(0.0))
    view.resize(1200, 600)
    view.show()
    assert not view.plots_built  # show() schedules the paint; the build comes after it
    (placeholder,) = view.findChildren(QLabel, "plotPlaceholder")
    assert placeholder.text() == PLACEHOLDER_TEXT
    qtbot.waitUntil(lambda: view.plots_built, timeout=10_000)
    assert view.graphics is not None and view.graphics.isVisible()
    assert len(view.series("accel_x_g")[0]) == 200


def test_short_rows_hide_their_tick_values_and_tall_rows_show_them(qtbot: QtBot) -> None:
    view = TelemetryView()
    qtbot.addWidget(view)
    view.build_plots()
    view.set_device(URL, "virtual device")
    feed(view, 0.0, 4.0)
    assert len(view._plots) == 4  # three channels and the shadow difference
    view.resize(900, 200)  # a short dock: each of the rows gets a few dozen pixels
    view.show()

    def values_shown() -> list[bool]:
        return [p.getAxis("left").style["showValues"] for p in view._plots.values()]

    qtbot.waitUntil(lambda: not any(values_shown()), timeout=10_000)
    view.resize(900, 1000)  # tall enough for readable ticks on every row
    qtbot.waitUntil(lambda: all(values_shown()), timeout=10_000)
