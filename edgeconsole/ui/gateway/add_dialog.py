""" "Add gateway…": type an address or pick one found on the network, and give its token.

Discovery (mDNS ``_edgeconsole._tcp``) runs on a worker thread and takes a couple
of seconds; the list fills when it answers, the dialog never waits for it. The
token is pasted (shown as dots) or read from a token file the agent wrote (its
``DATA/token``); nothing typed here is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.api import TargetRef
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.session.jobs import shared_runner
from edgeconsole.ui.theme import COLOURS

Discover = Callable[[], list[dict[str, Any]]]


def gateway_label(g: dict[str, Any]) -> str:
    text = f"{g.get('name') or g.get('host')}  —  {g.get('url')}"
    extra = [str(g[k]) for k in ("version", "hardware_id", "model") if g.get(k)]
    return text + (f"  ({', '.join(extra)})" if extra else "")


def normalise_address(text: str) -> str:
    """What a person types (``10.0.0.5``, ``10.0.0.5:8470``, ``http://…``, ``oip://…``)
    as the canonical target URL (``TargetRef.parse``, the one URL parser); "" when empty.
    A bare address is a gateway here, not a serial port."""
    text = text.strip()
    if not text:
        return ""
    if "://" not in text:
        text = "gateway://" + text
    try:
        return TargetRef.parse(text).url_with_options
    except EdgeConsoleError:
        return text  # connecting to it says what is wrong, in words


class AddGatewayDialog(QDialog):
    def __init__(
        self,
        discover: Discover | None,
        parent: QWidget | None = None,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        #: The session's job runner runs the search (the process's shared one without one).
        self.jobs = jobs if jobs is not None else shared_runner()
        self.setWindowTitle("Add gateway")
        self.setObjectName("addGatewayDialog")
        self._discover = discover
        self._found: list[dict[str, Any]] | None = None
        self._error = ""
        self._searching = False
        self.found = QListWidget()
        self.found.setObjectName("gatewayList")
        self.found.currentItemChanged.connect(self._on_pick)
        self.found.itemDoubleClicked.connect(lambda _i: self._accept_if_ready())
        self.search_button = QPushButton("Search again")
        self.search_button.clicked.connect(self.search)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {COLOURS.text_dim};")
        self.address = QLineEdit()
        self.address.setObjectName("gatewayAddress")
        self.address.setPlaceholderText(
            "gateway://10.0.0.5:8470 (an EdgeConsole agent) or oip://HOST:PORT (Triton, …)"
        )
        self.token = QLineEdit()
        self.token.setObjectName("gatewayToken")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("paste the agent's token, or choose its token file")
        self.token_file = ""
        self.file_button = QPushButton("Token file…")
        self.file_button.setObjectName("tokenFileButton")
        self.file_button.clicked.connect(self.pick_token_file)
        self.file_label = QLabel("No token file: the token remembered for it is used")
        self.file_label.setStyleSheet(f"color: {COLOURS.text_dim};")
        self.file_label.setWordWrap(True)
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(self.file_button)
        form = QFormLayout()
        form.addRow("Address:", self.address)
        form.addRow("Token:", token_row)
        form.addRow("", self.file_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self._accept_if_ready)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Gateways found on the local network:"))
        layout.addWidget(self.found, 1)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.search_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(620, 420)
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._collect)
        self.search()

    # ------------------------------------------------------------- discovery
    def search(self) -> None:
        if self._discover is None or self._searching:
            if self._discover is None:
                self.note.setText("Discovery is not available: type the address.")
            return
        self._searching = True
        self._found = None
        self._error = ""
        self.search_button.setEnabled(False)
        self.note.setText("Searching the local network (mDNS)…")
        discover = self._discover

        def work(_progress: object, _cancel: object) -> None:
            try:
                found = discover()
            except Exception as exc:  # shown in the dialog
                self._error = str(exc) or type(exc).__name__
                found = []
            self._found = found

        self.jobs.start("gateway discovery", work)
        self._timer.start()

    @property
    def searching(self) -> bool:
        return self._searching

    def _collect(self) -> None:
        found = self._found
        if found is None:
            return
        self._timer.stop()
        self._searching = False
        self.search_button.setEnabled(True)
        self.found.clear()
        for g in found:
            item = QListWidgetItem(gateway_label(g))
            item.setData(Qt.ItemDataRole.UserRole, str(g.get("url", "")))
            self.found.addItem(item)
        if self._error:
            self.note.setText(f"Could not search: {self._error}. Type the address instead.")
        elif found:
            self.note.setText(f"{len(found)} found. Pick one, or type an address.")
        else:
            self.note.setText(
                "None answered. Check the laptop is on the gateway's network, or type "
                "its address (the agent prints it when it starts)."
            )

    def _on_pick(self, item: QListWidgetItem | None, _prev: object) -> None:
        if item is not None:
            self.address.setText(str(item.data(Qt.ItemDataRole.UserRole)))

    # ----------------------------------------------------------------- token
    def pick_token_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The agent's token file", "", "All files (*)")
        if path:
            self.set_token_file(path)

    def set_token_file(self, path: str) -> None:
        self.token_file = path
        self.file_label.setText(f"Token file: {path}")
        self.file_label.setStyleSheet("")

    # ---------------------------------------------------------------- result
    def url(self) -> str:
        return normalise_address(self.address.text())

    def token_text(self) -> str | None:
        return self.token.text().strip() or None

    def _accept_if_ready(self) -> None:
        if not self.url():
            self.note.setText("Type the gateway's address or pick one above.")
            self.address.setFocus()
            return
        self.accept()

    def done(self, result: int) -> None:
        self._timer.stop()
        super().done(result)
