"""Pick target, bundle, dataset, budget and line rate; watch the run; view and export.

The run (and the signing of its report) happens on a worker thread owned by
``ValidationJob``; this widget polls ``job.snapshot()`` with one QTimer at
display rate and redraws the running confusion matrix and latency histogram, as
the live view does with ``session.poll()``. No signal per sample.
"""

from __future__ import annotations

import shutil
from html import escape
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import ConfigError, EdgeConsoleError
from edgeconsole.session.commissioning import (
    MIN_SAMPLES_PER_CLASS,
    LineValidationJob,
    LineValidationRequest,
    ValidationJob,
    ValidationRequest,
    WrittenReport,
    html_to_pdf,
    write_report,
)
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.session.jobs import RunningJob, shared_runner
from edgeconsole.ui.jobs import JobRunner
from edgeconsole.ui.theme import COLOURS

POLL_MS = 100


def _path_row(edit: QLineEdit, pick: Any) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.clicked.connect(pick)
    lay.addWidget(b)
    return w


class CommissionPanel(QWidget):
    """The Commission flow as one widget (mount it; it owns its job and timer)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        reports_dir: Path | None = None,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("commissionPanel")
        self.reports_dir = reports_dir or Path.home()
        self.job: ValidationJob | LineValidationJob | None = None
        self.written: WrittenReport | None = None
        self.report_error = ""
        #: The session's job runner runs the validation and renders the PDF.
        self.jobs = jobs if jobs is not None else shared_runner()
        self._writer: RunningJob | None = None
        self.pdf_runner = JobRunner(self, self.jobs)
        self.pdf_runner.succeeded.connect(self._pdf_written)
        self.pdf_runner.failed.connect(self._pdf_failed)
        self._exported: list[Path] = []
        self._shown_done = -1

        # -- inputs
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.addItems(["local://", "gateway://127.0.0.1:8470?model=NAME"])
        self.token_file = QLineEdit()
        self.token_file.setPlaceholderText("gateway only: the agent's token file")
        self.bundle = QLineEdit()
        self.bundle.setPlaceholderText("signed bundle (.ecb) or model folder")
        self.trust = QLineEdit()
        self.trust.setPlaceholderText("trust store folder (for .ecb)")
        self.dataset = QLineEdit()
        self.dataset.setPlaceholderText("folder with one subfolder per class, or labels.csv")
        # Or a moving line: a video of the line and the truth of its parts (issue 12).
        self.line_video = QLineEdit()
        self.line_video.setPlaceholderText("or a video of the moving line (instead of a dataset)")
        self.line_truth = QLineEdit()
        self.line_truth.setPlaceholderText("parts.csv: frame,label (each part's line crossing)")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.0, 60000.0)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" ms")
        self.budget.setSpecialValueText("bundle's budget")
        self.line_rate = QDoubleSpinBox()
        self.line_rate.setRange(0.0, 100000.0)
        self.line_rate.setDecimals(0)
        self.line_rate.setSuffix(" parts/min")
        self.line_rate.setSpecialValueText("no line-rate check")
        self.min_samples = QSpinBox()
        self.min_samples.setRange(1, 100_000)
        self.min_samples.setValue(MIN_SAMPLES_PER_CLASS)
        self.min_samples.setSuffix(" samples")
        self.min_samples.setToolTip(
            "A class's recall passes only over at least this many samples of it"
        )
        self.report_path = QLineEdit(str(self.reports_dir / "commissioning-report.html"))

        form = QFormLayout()
        form.addRow("Target", self.target)
        form.addRow("Token file", _path_row(self.token_file, self._pick_token))
        form.addRow("Bundle", _path_row(self.bundle, self._pick_bundle))
        form.addRow("Trust store", _path_row(self.trust, self._pick_trust))
        form.addRow("Dataset", _path_row(self.dataset, self._pick_dataset))
        form.addRow("Line video", _path_row(self.line_video, self._pick_video))
        form.addRow("Truth", _path_row(self.line_truth, self._pick_truth))
        form.addRow("Latency budget", self.budget)
        form.addRow("Line rate", self.line_rate)
        form.addRow("Fewest per class", self.min_samples)
        form.addRow("Report", self.report_path)
        inputs = QGroupBox("Commission a target")
        inputs.setLayout(form)

        self.run_button = QPushButton("Run validation")
        self.run_button.setObjectName("primary")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.view_button = QPushButton("View report")
        self.view_button.setEnabled(False)
        self.view_button.clicked.connect(self.view_report)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.view_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m samples")
        self.status = QLabel("Pick a target, a bundle and a labelled dataset.")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(44)
        self.verdict = QLabel("")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict.setMinimumHeight(36)

        # -- live views
        self.matrix = QTableWidget(0, 0)
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        matrix_box = QGroupBox("Confusion matrix (truth down, predicted across)")
        QVBoxLayout(matrix_box).addWidget(self.matrix)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(COLOURS.panel)
        self.plot.setLabel("bottom", "end-to-end decision time", units="ms")
        self.plot.setLabel("left", "samples")
        self.plot.setMouseEnabled(False, False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=COLOURS.info)
        self.plot.addItem(self.bars)
        self.budget_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen(COLOURS.fail, width=2, style=Qt.PenStyle.DashLine),
            label="budget",
            labelOpts={"color": COLOURS.fail, "position": 0.9},
        )
        self.interval_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen(COLOURS.warn, width=2, style=Qt.PenStyle.DotLine),
            label="per part",
            labelOpts={"color": COLOURS.warn, "position": 0.75},
        )
        for line in (self.budget_line, self.interval_line):
            line.setVisible(False)
            self.plot.addItem(line)
        hist_box = QGroupBox("Latency histogram")
        QVBoxLayout(hist_box).addWidget(self.plot)
        live = QHBoxLayout()
        live.addWidget(matrix_box, 1)
        live.addWidget(hist_box, 1)

        self.summary = QTextBrowser()
        self.summary.setOpenLinks(False)
        self.summary.setMinimumHeight(150)

        root = QVBoxLayout(self)
        root.addWidget(inputs)
        root.addLayout(buttons)
        root.addWidget(self.progress)
        root.addWidget(self.status)
        root.addWidget(self.verdict)
        root.addLayout(live, 1)
        root.addWidget(self.summary)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    # ------------------------------------------------------------------ pickers
    def _pick_bundle(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Bundle", "", "Bundles (*.ecb);;All (*)")
        if path:
            self.bundle.setText(path)

    def _pick_trust(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Trust store")
        if path:
            self.trust.setText(path)

    def _pick_dataset(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if path:
            self.dataset.setText(path)

    def _pick_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Video of the line", "", "Videos (*.avi *.mp4 *.mkv *.mov);;All (*)"
        )
        if path:
            self.line_video.setText(path)

    def _pick_truth(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Truth of the parts", "", "CSV (*.csv)")
        if path:
            self.line_truth.setText(path)

    def _pick_token(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Gateway token file")
        if path:
            self.token_file.setText(path)

    # ------------------------------------------------------------------ run
    def request(self) -> ValidationRequest:
        return ValidationRequest(
            target=self.target.currentText().strip(),
            model=self.bundle.text().strip(),
            dataset=self.dataset.text().strip(),
            trust_dir=self.trust.text().strip() or None,
            budget_ms=self.budget.value() or None,
            line_rate=self.line_rate.value() or None,
            token_file=self.token_file.text().strip() or None,
            min_samples=self.min_samples.value(),
        )

    def line_request(self) -> LineValidationRequest:
        return LineValidationRequest(
            target=self.target.currentText().strip(),
            model=self.bundle.text().strip(),
            source=self.line_video.text().strip(),
            truth=self.line_truth.text().strip(),
            trust_dir=self.trust.text().strip() or None,
            budget_ms=self.budget.value() or None,
            line_rate=self.line_rate.value() or None,
            token_file=self.token_file.text().strip() or None,
        )

    @property
    def running(self) -> bool:
        return self._writer is not None and self._writer.running

    def start(self) -> bool:
        """Check the inputs, then run and sign on a worker thread."""
        if self.running:
            return False
        self.written = None
        self.report_error = ""
        self.verdict.setText("")
        self.verdict.setStyleSheet("")
        self.summary.clear()
        for b in (self.view_button, self.export_button):
            b.setEnabled(False)
        moving = bool(self.line_video.text().strip() or self.line_truth.text().strip())
        if not self.bundle.text().strip() or not (self.dataset.text().strip() or moving):
            self._say("Pick a bundle and a dataset (or a line video and its truth).", error=True)
            return False
        job: ValidationJob | LineValidationJob
        try:
            if moving:
                if self.dataset.text().strip():
                    raise ConfigError(
                        "a dataset and a line video are two kinds of run",
                        hint="clear one of them",
                    )
                if not (self.line_video.text().strip() and self.line_truth.text().strip()):
                    raise ConfigError("a moving-line run needs both the video and its truth")
                job = LineValidationJob(self.line_request())
                job.prepare()  # a bad truth file is refused here, with the row
            else:
                job = ValidationJob(self.request())
        except EdgeConsoleError as exc:
            self._say(str(exc), error=True)
            return False
        self.job = job
        out = Path(self.report_path.text().strip() or "commissioning-report.html")

        def work(_progress: object, _cancel: object) -> None:
            try:
                res = job.run()
                self.written = write_report(res, out)
            except EdgeConsoleError as exc:
                self.report_error = str(exc)
            except Exception as exc:  # a bug: show it rather than leave the window waiting
                self.report_error = f"unexpected error: {exc!r}"

        self._shown_done = -1
        self._writer = self.jobs.start("commission", work)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._say("Checking the bundle, the dataset and the target…")
        self.timer.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._say("Cancelling after the current sample…")

    def wait(self, timeout: float) -> bool:
        """Block until the run and its report are done (tests, shutdown)."""
        if self._writer is None:
            return True
        return self._writer.wait(timeout)

    def poll(self) -> None:
        """One display tick: redraw what changed; finish up when the run ended."""
        job = self.job
        if job is None:
            return
        snap = job.snapshot()
        if snap["done"] != self._shown_done:
            self._shown_done = snap["done"]
            self.show_snapshot(snap)
        if not self.running:
            self.timer.stop()
            self._finished(snap)

    def show_snapshot(self, snap: dict[str, Any]) -> None:
        total = max(1, snap["total"])
        unit = "frames" if snap.get("kind") == "line" else "samples"
        if not self.progress.format().endswith(unit):
            self.progress.setFormat(f"%v / %m {unit}")
        self.progress.setRange(0, total)
        self.progress.setValue(snap["done"])
        if snap["state"] == "running" and snap.get("kind") == "line":
            acc = f"{snap['correct'] / snap['scored']:.1%}" if snap["scored"] else "-"
            self._say(
                f"Running: frame {snap['done']} of {snap['total']}, {snap['decided']} parts "
                f"decided, {snap['matched']} matched the truth, {snap['missed']} missed, "
                f"{snap['extra']} extra; per-part accuracy so far {acc}"
            )
        elif snap["state"] == "running":
            acc = f"{snap['correct'] / snap['scored']:.1%}" if snap["scored"] else "-"
            self._say(
                f"Running: {snap['done']} of {snap['total']} samples, accuracy so far {acc}, "
                f"unreadable {snap['unreadable']}"
            )
        cm = snap["confusion"]
        rows, cols, m = cm["rows"], cm["cols"], cm["matrix"]
        self.matrix.setRowCount(len(rows))
        self.matrix.setColumnCount(len(cols))
        self.matrix.setVerticalHeaderLabels(rows)
        self.matrix.setHorizontalHeaderLabels(cols)
        peak = max((max(r) for r in m if r), default=0) or 1
        for i, r in enumerate(m):
            for j, v in enumerate(r):
                item = QTableWidgetItem(str(v))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if v:
                    base = QColor(
                        COLOURS.ok if j < len(rows) and cols[j] == rows[i] else COLOURS.fail
                    )
                    base.setAlphaF(0.25 + 0.7 * v / peak)
                    item.setBackground(base)
                self.matrix.setItem(i, j, item)
        edges, counts = snap["histogram"]["edges"], snap["histogram"]["counts"]
        if counts:
            width = edges[1] - edges[0]
            self.bars.setOpts(
                x=[e + width / 2 for e in edges[:-1]], height=counts, width=width * 0.9
            )
            # The histogram already spans the budget; a per-part interval far beyond it
            # would squash the bars into a sliver, so it widens the view only up to 3x.
            hi = edges[-1]
            rate = snap.get("line_rate")
            if rate and 60000.0 / rate <= 3 * hi:
                hi = max(hi, 60000.0 / rate * 1.05)
            self.plot.setXRange(0, hi, padding=0)
            self.plot.setYRange(0, max(counts) * 1.1, padding=0)
        budget = snap.get("budget_ms")
        self.budget_line.setVisible(budget is not None)
        if budget is not None:
            self.budget_line.setValue(budget)
            self.budget_line.label.setFormat(f"budget {budget:g} ms")
        rate = snap.get("line_rate")
        self.interval_line.setVisible(rate is not None)
        if rate:
            self.interval_line.setValue(60000.0 / rate)
            self.interval_line.label.setFormat(f"per part {60000.0 / rate:.0f} ms")

    def _finished(self, snap: dict[str, Any]) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        job = self.job
        if self.report_error or job is None or job.result is None:
            self._say(
                self.report_error or job.error if job else "the run did not start", error=True
            )
            return
        d = job.result.data
        verdict = d["verdict"]
        colour = {"PASS": COLOURS.ok, "FAIL": COLOURS.fail}.get(verdict, COLOURS.warn)
        self.verdict.setText(verdict if not d["partial"] else f"PARTIAL: {d['partial_reason']}")
        self.verdict.setStyleSheet(
            f"background:{colour};color:#000;font-weight:700;font-size:18px;border-radius:4px"
        )
        rows = "".join(
            f"<tr><td>{escape(c['name'])}</td><td style='color:"
            f"{COLOURS.ok if c['passed'] else COLOURS.fail}'><b>"
            f"{'PASS' if c['passed'] else 'FAIL'}</b></td><td>{escape(c['value'])}</td>"
            f"<td>{escape(c['limit'])}</td><td>{escape(c['margin'])}</td>"
            f"<td>{escape(c.get('note') or '')}</td></tr>"
            for c in d["criteria"]
        )
        line = f"<p>{escape(d['line_rate'])}</p>" if d["line_rate"] else ""
        pre = d.get("preprocessing") or {}
        fed = (
            f"<p>Preprocessing: {escape(pre.get('text', ''))} → {escape(pre.get('produces', ''))}"
            f" (model input {escape(pre.get('model_input', ''))})</p>"
            if pre
            else ""
        )
        self.summary.setHtml(
            f"{line}{fed}<table cellpadding='3'><tr><th align='left'>criterion</th>"
            f"<th>result</th><th align='left'>measured</th><th align='left'>required</th>"
            f"<th align='left'>margin</th><th align='left'>note</th></tr>{rows}</table>"
        )
        if self.written is not None:
            self._say(f"Signed report written: {self.written.html}")
            self.view_button.setEnabled(True)
            self.export_button.setEnabled(True)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color:{COLOURS.fail}" if error else "")

    # ------------------------------------------------------------------ report
    def view_report(self) -> bool:
        if self.written is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.written.html)))

    def _export_dialog(self) -> None:
        if self.written is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export report", str(self.written.html.name), "HTML report (*.html)"
        )
        if path:
            self.export_to(Path(path), pdf=True)

    def export_to(self, dest: Path, *, pdf: bool = False) -> list[Path]:
        """Copy the signed report and its JSON; with ``pdf``, render the PDF on the
        session's job runner (never the UI thread: WeasyPrint takes seconds)."""
        if self.written is None:
            return []
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = [Path(shutil.copyfile(self.written.html, dest))]
        out.append(Path(shutil.copyfile(self.written.json, dest.with_suffix(".json"))))
        self._exported = list(out)
        if pdf and self.pdf_runner.start(
            "report PDF", lambda _p, _c: html_to_pdf(dest, dest.with_suffix(".pdf"))
        ):
            self._say("Exported: " + ", ".join(str(p) for p in out) + "; rendering the PDF…")
            return out
        self._say("Exported: " + ", ".join(str(p) for p in out))
        return out

    def _pdf_written(self, pdf: object) -> None:
        self._say("Exported: " + ", ".join(str(p) for p in [*self._exported, pdf]))

    def _pdf_failed(self, why: str) -> None:
        self._say(f"Report exported; no PDF: {why}", error=True)
