"""Labels rewritten while running do not lay the window out again (issue 15).

Counted, never timed: LayoutRequest events reaching the widget above the fence.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLabel, QStatusBar, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from edgeconsole.ui.latency_charts import HistogramChart
from edgeconsole.ui.layout_fence import LayoutFence
from edgeconsole.ui.status_panel import StatusPanel

from . import builders


class Count(QObject):
    def __init__(self, target: QObject, kind: QEvent.Type) -> None:
        super().__init__()
        self.kind, self.count = kind, 0
        target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        self.count += event.type() == self.kind
        return False


def settle() -> None:
    for _ in range(4):
        QApplication.processEvents()
        QApplication.sendPostedEvents()


def boxed(qtbot: QtBot, label: QLabel, fenced: bool = True) -> tuple[QWidget, QWidget]:
    """``label`` in a box in an outer widget, as the summary sits in the latency panel."""
    outer = QWidget()
    qtbot.addWidget(outer)
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.addWidget(LayoutFence(label) if fenced else label)
    layout.addStretch(1)
    QVBoxLayout(outer).addWidget(box)
    outer.resize(420, 300)
    outer.show()
    qtbot.waitExposed(outer)
    settle()
    return outer, box


def wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def test_a_text_that_fits_its_lines_relays_nothing_above(qtbot: QtBot) -> None:
    label = wrapped("First inference 12.0 ms · 120 frames · 3 over the 45 ms budget (2.5%)")
    outer, _box = boxed(qtbot, label)
    requests = Count(outer, QEvent.Type.LayoutRequest)
    for n in range(121, 141):
        label.setText(f"First inference 12.0 ms · {n} frames · 3 over the 45 ms budget (2.5%)")
        settle()
    assert requests.count == 0
    assert label.text().startswith("First inference") and label.isVisible()


def test_the_same_label_unfenced_relays_the_widget_above(qtbot: QtBot) -> None:
    """What the fence saves: without it, every new text is a relayout up the tree."""
    label = wrapped("120 frames")
    outer, _box = boxed(qtbot, label, fenced=False)
    requests = Count(outer, QEvent.Type.LayoutRequest)
    for n in range(121, 126):
        label.setText(f"{n} frames")
        settle()
    assert requests.count >= 5


def test_a_text_that_needs_more_lines_is_laid_out_again(qtbot: QtBot) -> None:
    label = wrapped("short")
    _outer, _box = boxed(qtbot, label)
    fence = label.parentWidget()
    assert isinstance(fence, LayoutFence)
    one_line = fence.height()
    label.setText("a much longer summary " * 12)
    settle()
    assert fence.passed >= 1
    qtbot.waitUntil(lambda: fence.height() > one_line * 2, timeout=5000)
    assert label.height() == fence.height()  # the label has its whole room


def test_a_one_line_label_keeps_room_it_grew_into(qtbot: QtBot) -> None:
    label = QLabel("parts 9")
    _outer, _box = boxed(qtbot, label)
    fence = label.parentWidget()
    assert isinstance(fence, LayoutFence)
    label.setText("parts 99999: pass 99990 fail 9")  # wider: passed on, laid out
    settle()
    qtbot.waitUntil(lambda: fence.width() >= label.sizeHint().width(), timeout=5000)
    passed = fence.passed
    label.setText("parts 100")  # narrower: fits, stays
    settle()
    assert fence.passed == passed and fence.kept >= 1


def test_status_bar_parts_and_tooltips_do_not_relayout_or_resend(qtbot: QtBot) -> None:
    bar = QStatusBar()
    qtbot.addWidget(bar)
    panel = StatusPanel(bar)
    bar.resize(1400, 30)
    bar.show()
    status = builders.update(index=None).status
    status.mode = "parts"
    status.parts_decided, status.parts_passed, status.parts_failed = 100, 90, 10
    panel.apply(status)
    settle()
    layouts = Count(bar, QEvent.Type.LayoutRequest)
    tips = Count(panel.model, QEvent.Type.ToolTipChange)
    for n in range(101, 110):
        status.parts_decided, status.parts_passed = n, n - 10
        panel.apply(status)
        settle()
    assert "parts 109" in panel.parts.text() and panel.parts.isVisible()
    assert layouts.count == 0 and tips.count == 0


def test_a_hidden_histogram_keeps_its_stats_and_draws_them_when_shown(qtbot: QtBot) -> None:
    chart = HistogramChart()
    plot = chart.build()
    qtbot.addWidget(plot)
    stats = builders.stats(builders.samples(1, 60))
    chart.apply(stats, draw=False)  # a line runs: the decision chart shows instead
    assert chart.under is not None and chart.under.getData()[0] is None
    chart.draw_held()
    x, _y = chart.under.getData()
    assert x is not None and len(x) > 0 and chart.counts == [int(c) for c in stats.histogram_counts]
