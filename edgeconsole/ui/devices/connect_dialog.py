""" "Connect serial device…": pick a discovered port or type a path (a pty)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000)
DEFAULT_BAUD = 115200


def port_label(port: dict[str, Any]) -> str:
    text = str(port.get("device", ""))
    if port.get("description"):
        text += f"  —  {port['description']}"
    if port.get("usb_id"):
        text += f"  (USB {port['usb_id']}"
        text += f", sn {port['serial_number']})" if port.get("serial_number") else ")"
    return text


class ConnectDialog(QDialog):
    def __init__(
        self, discover: Callable[[], list[dict[str, Any]]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect serial device")
        self.setObjectName("connectDialog")
        self._discover = discover
        self.ports = QListWidget()
        self.ports.setObjectName("portList")
        self.ports.currentItemChanged.connect(self._on_pick)
        self.ports.itemDoubleClicked.connect(lambda _i: self.accept())
        self.path = QLineEdit()
        self.path.setObjectName("portPath")
        self.path.setPlaceholderText("/dev/ttyACM0, or a pty path from `edgeconsole sim serial`")
        self.baud = QComboBox()
        for b in BAUDS:
            self.baud.addItem(str(b), b)
        self.baud.setCurrentIndex(BAUDS.index(DEFAULT_BAUD))
        self.rescan = QPushButton("Rescan")
        self.rescan.clicked.connect(self.refresh)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Port:", self.path)
        form.addRow("Baud rate:", self.baud)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Connect")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Ports this laptop sees:"))
        layout.addWidget(self.ports, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.rescan, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, 380)
        self.refresh()

    def refresh(self) -> None:
        self.ports.clear()
        try:
            found = self._discover()
        except Exception as exc:
            found = []
            self.note.setText(f"Could not list ports: {exc}")
        for p in found:
            item = QListWidgetItem(port_label(p))
            item.setData(Qt.ItemDataRole.UserRole, str(p.get("device", "")))
            self.ports.addItem(item)
        if not found and not self.note.text():
            self.note.setText(
                "No serial ports found. Plug the device in and press Rescan, or type a path "
                "(a virtual device prints its path when started)."
            )
        elif found:
            self.note.setText("")

    def _on_pick(self, item: QListWidgetItem | None, _prev: object) -> None:
        if item is not None:
            self.path.setText(str(item.data(Qt.ItemDataRole.UserRole)))

    def url(self) -> str:
        """The target URL to connect ("" when nothing was given)."""
        path = self.path.text().strip()
        if not path:
            return ""
        if path.startswith("serial://"):
            return path
        baud = int(self.baud.currentData())
        return f"serial://{path}?baud={baud}"
