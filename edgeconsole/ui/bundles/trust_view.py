"""Trust store management: import a public key, list keys with fingerprints, remove."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.workshop import (
    KeyRow,
    import_trust_key,
    remove_trust_key,
    trust_keys,
)
from edgeconsole.ui.theme import COLOURS


class TrustStoreView(QWidget):
    """Shows the store in ``trust_dir``; emits ``changed`` after an import or removal
    (the library re-checks every bundle then) and ``error`` with a one-line reason."""

    changed = Signal()
    error = Signal(str)

    def __init__(self, trust_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trust_dir = trust_dir
        self.title = QLabel("<b>Trusted signers</b>")
        self.where = QLabel()
        self.where.setStyleSheet(f"color: {COLOURS.text_dim};")
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Label", "Fingerprint (read it aloud to check)"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setAccessibleName("Trusted keys")
        self.import_button = QPushButton("Import public key…")
        self.import_button.setToolTip("Trust bundles signed by the holder of this .pub file")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop trusting the selected key")
        self.import_button.clicked.connect(self.import_dialog)
        self.remove_button.clicked.connect(self.remove_selected)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        buttons.addWidget(self.title)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.remove_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.where)
        self.keys: list[KeyRow] = []
        self.refresh()

    def refresh(self) -> None:
        self.keys = trust_keys(self.trust_dir)
        self.tree.clear()
        for k in self.keys:
            label = f"{k.label}  [DEMO ONLY]" if k.demo else k.label
            item = QTreeWidgetItem([label, k.problem or k.fingerprint])
            item.setToolTip(1, f"key id {k.key_id}\n{k.path}")
            if k.demo:
                item.setForeground(0, QBrush(QColor(COLOURS.warn)))
                item.setToolTip(
                    0,
                    "The demo key's private half is public: anyone can sign with it. "
                    "Never trust it on a real site.",
                )
            if k.problem:
                item.setForeground(1, QBrush(QColor(COLOURS.fail)))
            item.setData(0, Qt.ItemDataRole.UserRole, k.key_id or k.label)
            self.tree.addTopLevelItem(item)
        n = len([k for k in self.keys if not k.problem])
        self.where.setText(
            f"{n} key(s) in {self.trust_dir}"
            if self.keys
            else f"No trusted keys yet ({self.trust_dir}): no bundle will verify."
        )
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.tree.selectedItems()))

    def import_key_file(self, path: Path, label: str | None = None) -> KeyRow | None:
        try:
            row = import_trust_key(self.trust_dir, path, label)
        except EdgeConsoleError as exc:
            self.error.emit(f"Key not imported: {exc}")
            return None
        self.refresh()
        self.changed.emit()
        return row

    def remove(self, kid_or_label: str) -> bool:
        try:
            remove_trust_key(self.trust_dir, kid_or_label)
        except EdgeConsoleError as exc:
            self.error.emit(f"Key not removed: {exc}")
            return False
        self.refresh()
        self.changed.emit()
        return True

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a signer's public key", "", "Public keys (*.pub *.pem);;All files (*)"
        )
        if not path:
            return
        label, ok = QInputDialog.getText(
            self, "Label for this key", "Label (letters, digits, - or _):", text=Path(path).stem
        )
        if ok:
            self.import_key_file(Path(path), label.strip() or None)

    def remove_selected(self) -> None:
        items = self.tree.selectedItems()
        if not items:
            return
        kid = str(items[0].data(0, Qt.ItemDataRole.UserRole))
        answer = QMessageBox.question(
            self,
            "Stop trusting this key?",
            f"Bundles signed only by {items[0].text(0)} will no longer verify.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(kid)
