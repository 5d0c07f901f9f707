"""The options of a firmware upgrade: which image, which keys are trusted, how far to go.

Returns what the person chose; the upgrade itself is ``session.targets.stock.upgrade``.
Permanent installation (no revert) is a separate, explicit choice with its own
warning, never the default. The keys and the last folder are remembered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.theme import COLOURS

PERMANENT_WARNING = (
    "Install this image PERMANENTLY?\n\n"
    "MCUboot will not keep the current image to go back to: if the new image does "
    "not start or misbehaves, there is no automatic revert. Test (the default) runs "
    "it once and confirms it only after the device came back and answers."
)


class FirmwareDialog(QDialog):
    def __init__(
        self,
        image: str,
        *,
        keys: list[str],
        can_revert: bool | None,
        running: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upgrade firmware")
        self.setObjectName("firmwareDialog")
        self.image = image
        self.keys = QListWidget()
        self.keys.setObjectName("firmwareKeys")
        self.keys.addItems(keys)
        self.keys.setMaximumHeight(90)
        self.keys.setToolTip(
            "MCUboot public keys you trust (PEM, as `imgtool getpub -e pem` prints); "
            "the app's firmware-keys folder is trusted too"
        )
        add = QPushButton("Add key…")
        add.clicked.connect(self.add_key)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_keys)
        key_row = QHBoxLayout()
        key_row.addWidget(add)
        key_row.addWidget(remove)
        key_row.addStretch(1)
        self.confirm_mode = QRadioButton("Test, then confirm once it booted and answers")
        self.confirm_mode.setObjectName("modeConfirm")
        self.test_mode = QRadioButton("Test only: confirm later (a reset reverts it)")
        self.test_mode.setObjectName("modeTest")
        self.confirm_mode.setChecked(True)
        self.permanent = QCheckBox("Install permanently, without a revert…")
        self.permanent.setObjectName("permanentBox")
        self.permanent.toggled.connect(self._permanent_toggled)
        self.allow_downgrade = QCheckBox("Allow a lower version than the running one")
        note = QLabel(
            f"Runs now: {running or '?'}. "
            + (
                "MCUboot here cannot revert: a tested image is final."
                if can_revert is False
                else "An image on test is reverted by MCUboot at the next reset unless confirmed."
            )
        )
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {COLOURS.text_dim};")
        form = QFormLayout()
        form.addRow("Image:", QLabel(Path(image).name))
        form.addRow("Trusted keys:", self.keys)
        form.addRow("", _wrap(key_row))
        form.addRow("After upload:", self.confirm_mode)
        form.addRow("", self.test_mode)
        form.addRow("", self.allow_downgrade)
        form.addRow("", self.permanent)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Check and upload")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def add_key(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Trust an MCUboot public key", str(Path.home()), "PEM keys (*.pem);;All files (*)"
        )
        if path and not self.keys.findItems(path, _exact()):
            self.keys.addItem(path)

    def remove_keys(self) -> None:
        for item in self.keys.selectedItems():
            self.keys.takeItem(self.keys.row(item))

    def _permanent_toggled(self, on: bool) -> None:
        if not on:
            return
        answer = QMessageBox.warning(
            self,
            "Install permanently",
            PERMANENT_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.permanent.setChecked(False)

    def choice(self) -> dict[str, Any]:
        return {
            "keys": tuple(self.keys.item(i).text() for i in range(self.keys.count())),
            "mode": "confirm" if self.confirm_mode.isChecked() else "test",
            "permanent": self.permanent.isChecked(),
            "allow_downgrade": self.allow_downgrade.isChecked(),
        }


def _wrap(layout: QHBoxLayout) -> QWidget:
    w = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    w.setLayout(layout)
    return w


def _exact() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MatchFlag.MatchExactly
