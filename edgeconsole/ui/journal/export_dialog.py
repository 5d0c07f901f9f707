"""The export dialog: write a signed evidence pack with progress, Cancel, then verify it.

    ExportDialog(session.journal, parent=window).open()   # File ▸ Export evidence pack… (Ctrl+E)

The pack is built by ``EvidencePackJob`` on a Python thread; a ``QTimer`` reads
its progress, so the window never waits on the disk. When the pack is written
it is verified at once (every checksum and the signature) on the same thread
and the result is shown in plain words. Cancel stops the job at its next check:
the partial folder is removed and no pack is left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import Cancelled, ConfigError, EdgeConsoleError
from edgeconsole.session.evidence import (
    OWN_LABEL,
    ConsoleKey,
    EvidencePackJob,
    ExportRequest,
    ExportResult,
    Journal,
    TrustedKey,
    VerifyReport,
    verify_pack,
    wall_ns,
)
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.session.jobs import RunningJob, shared_runner
from edgeconsole.ui.theme import COLOURS

#: (label, seconds back from now; None = everything; -1 = custom range)
RANGES: tuple[tuple[str, int | None], ...] = (
    ("Everything in the journal", None),
    ("Last hour", 3600),
    ("Last 8 hours (a shift)", 8 * 3600),
    ("Last 24 hours", 86400),
    ("Last 7 days", 7 * 86400),
    ("Custom range", -1),
)

KeyFactory = Callable[[], ConsoleKey]


@dataclass
class _Outcome:
    result: ExportResult | None = None
    report: VerifyReport | None = None
    error: str | None = None
    cancelled: bool = False


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.strip())
    return "-".join(p for p in keep.split("-") if p)[:40]


class ExportDialog(QDialog):
    def __init__(
        self,
        journal: Journal,
        parent: QWidget | None = None,
        *,
        out_dir: Path | None = None,
        key_factory: KeyFactory = ConsoleKey.load_or_create,
        poll_ms: int = 50,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export evidence pack")
        self.setMinimumWidth(760)
        self.journal = journal
        self.key_factory = key_factory
        self.state = "idle"  # idle | running | cancelling | done | failed | cancelled
        self.outcome: _Outcome | None = None
        #: The session's job runner runs the export (the process's shared one without one).
        self.jobs = jobs if jobs is not None else shared_runner()
        self._job: RunningJob | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._stage = ""
        self._frac = 0.0
        self._close_when_done = False

        intro = QLabel(
            "One folder with the recordings, CSV tables, OpenTelemetry logs and metrics and "
            "the fleet inventory, checksummed and signed by this console. Copy it to a USB "
            "stick; the central system checks it with <i>edgeconsole export verify</i>."
        )
        intro.setWordWrap(True)
        site = journal.site()
        self.folder_edit = QLineEdit(str(out_dir or Path.home()))
        self.folder_edit.setAccessibleName("Output folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        name = "-".join(x for x in ("evidence", _slug(site.site), stamp) if x)
        self.name_edit = QLineEdit(name)
        self.name_edit.setAccessibleName("Pack name")
        self.range_combo = QComboBox()
        for label, secs in RANGES:
            self.range_combo.addItem(label, secs)
        self.range_combo.currentIndexChanged.connect(self._range_changed)
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addSecs(-8 * 3600))
        self.until_edit = QDateTimeEdit(now)
        for e in (self.since_edit, self.until_edit):
            e.setCalendarPopup(True)
            e.setDisplayFormat("yyyy-MM-dd HH:mm")
        custom_row = QHBoxLayout()
        custom_row.addWidget(QLabel("from"))
        custom_row.addWidget(self.since_edit, 1)
        custom_row.addWidget(QLabel("until"))
        custom_row.addWidget(self.until_edit, 1)
        self.custom_box = QWidget()
        self.custom_box.setLayout(custom_row)
        custom_row.setContentsMargins(0, 0, 0, 0)
        self.custom_box.setVisible(False)
        self.all_targets = QCheckBox("All targets")
        self.all_targets.setChecked(True)
        self.targets_list = QListWidget()
        self.targets_list.setMinimumHeight(88)
        self.targets_list.setMaximumHeight(110)
        for t in self._known_targets():
            item = QListWidgetItem(t)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.targets_list.addItem(item)
        self.targets_list.setEnabled(False)
        self.all_targets.toggled.connect(lambda on: self.targets_list.setEnabled(not on))
        self.recordings_check = QCheckBox("Include recordings (.mcap)")
        self.recordings_check.setChecked(True)

        form = QFormLayout()
        form.addRow("Folder:", folder_row)
        form.addRow("Pack name:", self.name_edit)
        form.addRow("Time range:", self.range_combo)
        form.addRow("", self.custom_box)
        form.addRow("Targets:", self.all_targets)
        form.addRow("", self.targets_list)
        form.addRow("", self.recordings_check)
        who = QLabel(
            f"Stamped with site <b>{site.site or '(not set)'}</b> and technician "
            f"<b>{site.technician or '(not set)'}</b>."
        )

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.stage_label = QLabel("")
        self.stage_label.setObjectName("exportStage")
        self.result_label = QLabel("")
        self.result_label.setObjectName("exportResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(who)
        layout.addWidget(self.progress)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.result_label)
        layout.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self._poll)

    # -- inputs ------------------------------------------------------------------
    def _known_targets(self) -> list[str]:
        names: set[str] = set()
        try:
            names |= {t.identity for t in self.journal.fleet.targets()}
            names |= {r[1] for r in self.journal.recordings() if r[1]}
            names |= {e.target for e in self.journal.audit.entries(limit=5000) if e.target}
        except EdgeConsoleError:
            pass  # the list is a convenience; "all targets" still works
        return sorted(names)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)

    def _range_changed(self, _i: int) -> None:
        self.custom_box.setVisible(self.range_combo.currentData() == -1)

    def set_targets(self, targets: list[str] | None) -> None:
        """Choose targets from code; None = all."""
        self.all_targets.setChecked(targets is None)
        for i in range(self.targets_list.count()):
            item = self.targets_list.item(i)
            on = targets is not None and item.text() in targets
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def request(self) -> ExportRequest:
        """What the form asks for; raises EdgeConsoleError with a sentence when it is wrong."""
        folder = Path(self.folder_edit.text().strip()).expanduser()
        name = self.name_edit.text().strip()
        if not folder.is_dir():
            raise ConfigError(
                "folder does not exist", subject=str(folder), hint="pick the USB stick or a folder"
            )
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ConfigError("give the pack a folder name (no slashes)")
        out = folder / name
        if out.exists():
            raise ConfigError(
                "a pack with this name already exists", subject=str(out), hint="change the name"
            )
        secs = self.range_combo.currentData()
        since = until = None
        if secs == -1:
            since = self.since_edit.dateTime().toMSecsSinceEpoch() * 1_000_000
            until = self.until_edit.dateTime().toMSecsSinceEpoch() * 1_000_000
            if since > until:
                raise ConfigError("the range starts after it ends", hint="swap the times")
        elif secs is not None:
            since = wall_ns() - int(secs) * 1_000_000_000
        targets = None
        if not self.all_targets.isChecked():
            targets = [
                self.targets_list.item(i).text()
                for i in range(self.targets_list.count())
                if self.targets_list.item(i).checkState() == Qt.CheckState.Checked
            ]
            if not targets:
                raise ConfigError("tick at least one target, or 'All targets'")
        return ExportRequest(out, since, until, targets, self.recordings_check.isChecked())

    # -- running -----------------------------------------------------------------
    def start_export(self) -> bool:
        if self.state in ("running", "cancelling"):
            return False
        try:
            req = self.request()
        except EdgeConsoleError as exc:
            self._show_result("fail", f"Cannot export: {exc}")
            return False
        self._cancel = threading.Event()
        self._stage, self._frac = "starting", 0.0
        self.outcome = None
        self.state = "running"
        self.progress.setValue(0)
        self.result_label.setText("")
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.stage_label.setText("Starting…")
        settings = self.journal.site()
        journal_dir = self.journal.dir
        cancel = self._cancel
        self._job = self.jobs.start(
            "export", lambda _progress, _cancel: self._work(journal_dir, settings, req, cancel)
        )
        self.timer.start()
        return True

    def _progress(self, stage: str, frac: float) -> None:
        with self._lock:  # called on the worker thread
            self._stage = stage
            if frac >= 0:
                self._frac = frac

    def _work(
        self, journal_dir: Path, settings: Any, req: ExportRequest, cancel: threading.Event
    ) -> None:
        out = _Outcome()
        try:
            key = self.key_factory()
            job = EvidencePackJob(
                journal_dir, settings, key, req, progress=self._progress, cancel=cancel
            )
            out.result = job.run()
            self._progress("verifying the pack", 1.0)
            # Checked against the key this console holds, never the copy written beside
            # the pack: the same check the central system makes.
            out.report = verify_pack(out.result.path, [TrustedKey(key.public, OWN_LABEL)])
        except Cancelled:
            out.cancelled = True
        except EdgeConsoleError as exc:
            out.error = str(exc)
        except OSError as exc:
            out.error = f"{exc.strerror or exc} ({exc.filename or req.out})"
        except Exception as exc:  # a bug must reach the person, not vanish with the thread
            out.error = f"unexpected error: {exc!r}"
        with self._lock:
            self.outcome = out

    def cancel_export(self) -> None:
        if self.state == "running":
            self._cancel.set()
            self.state = "cancelling"
            self.stage_label.setText("Cancelling… (removing the partial folder)")
            self.cancel_button.setEnabled(False)

    def _cancel_clicked(self) -> None:
        if self.state in ("running", "cancelling"):
            self.cancel_export()
        else:
            self.reject()

    @property
    def busy(self) -> bool:
        return self.state in ("running", "cancelling")

    def _poll(self) -> None:
        with self._lock:
            stage, frac, outcome = self._stage, self._frac, self.outcome
        self.progress.setValue(int(frac * 1000))
        if self.state == "running":
            self.stage_label.setText(f"{stage[:1].upper()}{stage[1:]}…  {frac * 100:.0f}%")
        if outcome is None:
            return
        self.timer.stop()
        if self._job is not None:
            self._job.wait()
            self._job = None
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Close")
        if outcome.cancelled:
            self.state = "cancelled"
            self.progress.setValue(0)
            self.stage_label.setText("")
            self._show_result("warn", "Export cancelled. No pack was written.")
        elif outcome.error is not None:
            self.state = "failed"
            self.stage_label.setText("")
            self._show_result("fail", f"Export failed: {outcome.error}. No valid pack was written.")
        else:
            assert outcome.result is not None and outcome.report is not None
            self._show_outcome(outcome.result, outcome.report)
        if self._close_when_done:
            self.reject()

    def _show_outcome(self, res: ExportResult, rep: VerifyReport) -> None:
        mb = res.total_bytes / 1e6
        self.stage_label.setText("")
        if rep.ok:
            self.state = "done"
            self.progress.setValue(1000)
            self._show_result(
                "ok",
                f"✔ Pack written and verified: <b>{res.path}</b><br>{len(res.files)} files, "
                f"{mb:.1f} MB in {res.seconds:.1f} s · {rep.checked_files} checksums match · "
                f"signed by {rep.signer}.<br>Console key {rep.fingerprint} (the central "
                "system verifies the pack with this console's public key: "
                "<i>edgeconsole export key</i>)",
            )
        else:
            self.state = "failed"
            problems = "".join(f"<li>{p}</li>" for p in rep.problems)
            self._show_result(
                "fail",
                f"✖ The pack at <b>{res.path}</b> was written but does not verify; do not "
                f"hand it in. Export again.<ul>{problems}</ul>",
            )

    def _show_result(self, role: str, text: str) -> None:
        colour = {"ok": COLOURS.ok, "fail": COLOURS.fail, "warn": COLOURS.warn}[role]
        self.result_label.setStyleSheet(f"color: {colour};")
        self.result_label.setText(text)
        # Grow to fit the result rather than squeeze the form under it.
        need = self.sizeHint().height()
        if self.height() < need:
            self.resize(self.width(), need)

    # -- closing -----------------------------------------------------------------
    def reject(self) -> None:
        # Closing while the job runs cancels it; the dialog goes once the thread is done.
        if self.busy:
            self._close_when_done = True
            self.cancel_export()
            return
        super().reject()

    def closeEvent(self, event: Any) -> None:
        if self.busy:
            self._close_when_done = True
            self.cancel_export()
            event.ignore()
            return
        super().closeEvent(event)
