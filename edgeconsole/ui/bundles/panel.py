"""The Bundles panel: library of bundles on disk, trust store, inspect, benchmark,
and the build wizard. Mount it as a tab or dock (see ``edgeconsole/ui/bundles/__init__``).

The panel only displays and sends commands; the work is in
``session.workshop`` and runs on worker threads (``JobRunner``).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.session import workshop as bj
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.ui.bundles.bench_view import BenchView
from edgeconsole.ui.bundles.inspect_view import InspectView
from edgeconsole.ui.bundles.library import LibraryModel, status_colour
from edgeconsole.ui.bundles.trust_view import TrustStoreView
from edgeconsole.ui.bundles.wizard import BuildWizard
from edgeconsole.ui.jobs import JobRunner, ProgressStrip
from edgeconsole.ui.messages import MessageBar
from edgeconsole.ui.theme import COLOURS

LIBRARY_KEY = "bundles/library_dir"
#: The app theme leaves radio/check indicators nearly invisible on dark panels.
INDICATORS = f"""
QRadioButton::indicator, QCheckBox::indicator {{ width: 14px; height: 14px;
    border: 2px solid {COLOURS.text_dim}; background: {COLOURS.panel_alt}; }}
QRadioButton::indicator {{ border-radius: 9px; }}
QCheckBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator:checked, QCheckBox::indicator:checked {{
    background: {COLOURS.info}; border-color: {COLOURS.text}; }}
"""
RUNS_KEY = "bundles/bench_runs"


def _int_setting(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


class BundlesPanel(QWidget):
    """``settings``: the window's QSettings (the library folder is remembered there).
    ``trust_dir``: the trust store; default ``<app data>/trust`` (created 0700)."""

    bundle_built = Signal(Path)
    scan_finished = Signal(int)  # number of bundles listed

    def __init__(
        self,
        settings: QSettings,
        trust_dir: Path | None = None,
        parent: QWidget | None = None,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        #: The session's job runner (the process's shared one without a session).
        self.jobs = jobs
        self.setObjectName("bundlesPanel")
        self.settings = settings
        self.trust_dir = bj.ensure_trust_dir(trust_dir or bj.default_trust_dir())
        saved = str(settings.value(LIBRARY_KEY, "") or "")
        self.library_dir = Path(saved) if saved else bj.default_library_dir()

        self.scan_runner = JobRunner(self, jobs)
        self.inspect_runner = JobRunner(self, jobs)
        self.bench_runner = JobRunner(self, jobs)
        self.wizard: BuildWizard | None = None

        # -- top bar: folder, rescan, build -----------------------------------------
        self.folder_edit = QLineEdit(str(self.library_dir))
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setAccessibleName("Bundle folder")
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(self._choose_folder)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Verify every bundle in the folder again (F5)")
        self.rescan_button.setShortcut("F5")
        self.rescan_button.clicked.connect(self.rescan)
        self.build_button = QPushButton("Build bundle…")
        self.build_button.setToolTip("Turn an ONNX model into a signed bundle")
        self.build_button.clicked.connect(self.open_build_wizard)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Bundle folder</b>"))
        top.addWidget(self.folder_edit, 1)
        top.addWidget(self.choose_button)
        top.addWidget(self.rescan_button)
        top.addSpacing(16)
        top.addWidget(self.build_button)

        self.scan_strip = ProgressStrip(self.scan_runner)
        self.messages = MessageBar()
        self.summary = QLabel()

        # -- library ----------------------------------------------------------------
        self.model = LibraryModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Bundle library")
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        hh = self.table.horizontalHeader()
        for c in (0, 1, 2, 4, 5, 6):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        # "Why" keeps a readable width (the table scrolls sideways if it must);
        # the full reason of the selected row is also shown under the table.
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(3, 300)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.trust_view = TrustStoreView(self.trust_dir)
        self.trust_view.changed.connect(self.rescan)
        self.trust_view.error.connect(lambda t: self.messages.show_message("error", t))

        left = QSplitter(Qt.Orientation.Vertical)
        lib_box = QWidget()
        ll = QVBoxLayout(lib_box)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        ll.addWidget(self.detail)
        ll.addWidget(self.summary)
        left.addWidget(lib_box)
        left.addWidget(self.trust_view)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)

        # -- right: inspect / benchmark ---------------------------------------------
        self.inspect_view = InspectView()
        self.bench_view = BenchView()
        self.runs = QSpinBox()
        self.runs.setRange(10, 1_000_000)
        self.runs.setSingleStep(100)
        self.runs.setValue(_int_setting(settings.value(RUNS_KEY), 500))
        self.runs.setSuffix(" runs")
        self.threads = QSpinBox()
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("auto threads")
        self.threads.setSuffix(" threads")
        self.bench_button = QPushButton("Benchmark")
        self.bench_button.setObjectName("benchButton")
        for spin in (self.runs, self.threads):
            spin.setMaximumWidth(150)
        self.bench_button.setToolTip("Verify the selected bundle and time it on this machine")
        self.bench_button.clicked.connect(self.start_bench)
        self.bench_strip = ProgressStrip(self.bench_runner)
        bench_box = QWidget()
        bl = QVBoxLayout(bench_box)
        bl.setContentsMargins(6, 6, 6, 6)
        controls = QHBoxLayout()
        controls.addWidget(self.bench_button)
        controls.addWidget(self.runs)
        controls.addWidget(self.threads)
        controls.addWidget(self.bench_strip, 1)
        bl.addLayout(controls)
        bl.addWidget(self.bench_view, 1)
        inspect_box = QWidget()
        il = QVBoxLayout(inspect_box)
        il.setContentsMargins(6, 6, 6, 6)
        il.addWidget(self.inspect_view)
        self.tabs = QTabWidget()
        self.tabs.addTab(inspect_box, "Inspect")
        self.tabs.addTab(bench_box, "Benchmark")

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self._sized = False
        self.splitter = split
        self.setStyleSheet(INDICATORS)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addLayout(top)
        lay.addWidget(self.scan_strip)
        lay.addWidget(self.messages)
        lay.addWidget(split, 1)

        self.scan_runner.succeeded.connect(self._scan_done)
        self.scan_runner.failed.connect(self._scan_failed)
        self.scan_runner.cancelled.connect(lambda: self.summary.setText("Scan cancelled."))
        self.scan_runner.finished.connect(self._after_scan)
        self.inspect_runner.succeeded.connect(self._inspect_done)
        self.inspect_runner.failed.connect(self.inspect_view.show_error)
        self.inspect_runner.finished.connect(self._after_inspect)
        self.bench_runner.succeeded.connect(self._bench_done)
        self.bench_runner.failed.connect(self._bench_failed)
        self.bench_runner.cancelled.connect(
            lambda: self.bench_view.set_message("Benchmark cancelled.", COLOURS.warn)
        )
        self.bench_runner.finished.connect(self._update_buttons)
        self._rescan_again = False
        self._inspect_pending: Path | None = None
        self._inspecting: Path | None = None
        self._update_buttons()
        self.rescan()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # proportions need the real width, known only when shown
            self._sized = True
            w = max(self.width(), 800)
            self.splitter.setSizes([int(w * 0.58), int(w * 0.42)])

    # -- library ------------------------------------------------------------------

    def set_library_dir(self, folder: Path) -> None:
        self.library_dir = folder
        self.folder_edit.setText(str(folder))
        self.settings.setValue(LIBRARY_KEY, str(folder))
        self.rescan()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Bundle folder", str(self.library_dir))
        if path:
            self.set_library_dir(Path(path))

    def rescan(self) -> None:
        """Verify every bundle in the folder again (off the UI thread)."""
        if self.scan_runner.running:
            self._rescan_again = True  # trust changed mid-scan: the result would be stale
            self.scan_runner.cancel()
            return
        folder, trust = self.library_dir, self.trust_dir
        self.scan_strip.begin(f"Checking bundles in {folder}")
        self.scan_runner.start("Scan", lambda p, c: bj.scan_library(folder, trust, p, c))

    def _scan_done(self, rows: object) -> None:
        assert isinstance(rows, list)
        selected = self.selected_path()
        self.model.set_rows(rows)
        ok = sum(1 for r in rows if r.verified)
        self.summary.setText(
            f"{len(rows)} bundle(s), {ok} verified, {len(rows) - ok} not usable here"
            if rows
            else f"No .ecb files in {self.library_dir}"
        )
        self.summary.setStyleSheet(f"color: {COLOURS.text_dim};")
        if selected is not None:
            self.select(selected)
        self.table.setFocus()
        self.scan_finished.emit(len(rows))

    def _scan_failed(self, text: str) -> None:
        self.model.set_rows([])
        self.summary.setText("")
        self.messages.show_message("error", f"Cannot list bundles: {text}")

    def _after_scan(self) -> None:
        if self._rescan_again:
            self._rescan_again = False
            self.rescan()
        self._update_buttons()

    def rows(self) -> list[bj.BundleRow]:
        return list(self.model.rows)

    def row_for(self, name: str) -> bj.BundleRow | None:
        return next((r for r in self.model.rows if r.path.name == name), None)

    def select(self, path: Path) -> bool:
        for i, r in enumerate(self.model.rows):
            if r.path == path:
                self.table.selectionModel().select(
                    self.model.index(i, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(self.model.index(i, 0))
                return True
        return False

    def selected_row(self) -> bj.BundleRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows else None

    def selected_path(self) -> Path | None:
        r = self.selected_row()
        return None if r is None else r.path

    def _selection_changed(self) -> None:
        self._update_buttons()
        row = self.selected_row()
        if row is None:
            self.detail.clear()
            self.inspect_view.clear()
            return
        self.detail.setText(
            f"<b>{row.path.name}</b> — <span style='color:{status_colour(row.status)}'>"
            f"{row.status}</span>: {html.escape(row.reason)}"
        )
        self.inspect(row.path)

    # -- inspect ------------------------------------------------------------------

    def inspect(self, path: Path) -> None:
        if self.inspect_runner.running:
            self._inspect_pending = path  # shown as soon as the current one ends
            return
        self._inspecting = path
        self.inspect_view.clear(f"Reading {path.name}…")
        trust = self.trust_dir
        self.inspect_runner.start("Inspect", lambda p, c: bj.inspect_bundle(path, trust))

    def _inspect_done(self, info: object) -> None:
        assert isinstance(info, dict)
        if self._inspect_pending is None:
            self.inspect_view.show_info(info)

    def _after_inspect(self) -> None:
        pending, self._inspect_pending = self._inspect_pending, None
        if pending is not None:
            self.inspect(pending)

    # -- bench --------------------------------------------------------------------

    def start_bench(self) -> bool:
        row = self.selected_row()
        if row is None or self.bench_runner.running:
            return False
        self.settings.setValue(RUNS_KEY, self.runs.value())
        req = bj.BenchRequest(
            bundle=row.path,
            trust_dir=self.trust_dir,
            runs=self.runs.value(),
            threads=self.threads.value() or None,
        )
        self.tabs.setCurrentIndex(1)
        self.bench_view.set_message(f"Benchmarking {row.path.name}…", COLOURS.info)
        self.bench_strip.begin(f"Benchmark {row.path.name}")
        started = self.bench_runner.start("Benchmark", lambda p, c: bj.bench_bundle(req, p, c))
        self._update_buttons()
        return started

    def cancel_bench(self) -> None:
        self.bench_runner.cancel()

    def _bench_done(self, result: object) -> None:
        self.bench_view.show_result(result)

    def _bench_failed(self, text: str) -> None:
        self.bench_view.set_message(f"✖ Benchmark not run: {text}", COLOURS.fail)

    def _update_buttons(self) -> None:
        row = self.selected_row()
        self.bench_button.setEnabled(
            row is not None and row.verified and not self.bench_runner.running
        )
        if row is not None and not row.verified:
            self.bench_button.setToolTip(f"Only verified bundles are run: {row.reason}")
        else:
            self.bench_button.setToolTip("Verify the selected bundle and time it on this machine")

    # -- build --------------------------------------------------------------------

    def open_build_wizard(self) -> BuildWizard:
        if self.wizard is None:
            self.wizard = BuildWizard(self.trust_dir, self.library_dir, self, jobs=self.jobs)
            self.wizard.built.connect(self._built)
            self.wizard.finished.connect(self._wizard_closed)
        self.wizard.show()
        self.wizard.raise_()
        return self.wizard

    def _wizard_closed(self) -> None:
        wiz, self.wizard = self.wizard, None
        if wiz is not None and not wiz.runner.running:
            wiz.deleteLater()

    def _built(self, path: Path) -> None:
        self.bundle_built.emit(path)
        if path.parent == self.library_dir:
            self.rescan()

    # -- lifetime -------------------------------------------------------------------

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel running work and wait for the threads (call from closeEvent)."""
        runners = [self.scan_runner, self.inspect_runner, self.bench_runner]
        if self.wizard is not None:
            runners.append(self.wizard.runner)
        for r in runners:
            r.cancel()
        for r in runners:
            r.wait(timeout)
