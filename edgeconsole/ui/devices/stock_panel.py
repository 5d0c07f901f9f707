"""A stock Zephyr/MCUboot device in the device panel: what it can do, and doing it.

Shows ``TargetView.stock``: the features the device itself reported, each
available one plain and every other greyed out with the reason (its firmware
lacks the group, MCUboot cannot revert here, …); then tabs for firmware
(MCUboot slots; upgrade, confirm, revert, erase, each disabled with a reason
when the slot states do not allow it), files (put, get, a bundle's model at a
path), statistics and the shell. Every button calls ``targets.stock`` and
returns; progress and outcomes come back through ``poll()``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.devices.firmware_dialog import FirmwareDialog
from edgeconsole.ui.devices.panel_parts import fit_to_rows, mono, rows_table
from edgeconsole.ui.devices.stock_tabs import ShellTab, StatsTab, settings_list
from edgeconsole.ui.theme import COLOURS

IMAGE_COLUMNS = ("Slot", "Version", "State", "Hash")
#: Tabs and the capability each needs.
TABS = (
    ("Overview", ""),
    ("Firmware", "image.list"),
    ("Files", "fs"),
    ("Statistics", "stats"),
    ("Shell", "shell"),
)
DEFAULT_REMOTE = "/lfs1/model.onnx"


def image_state(s: Any) -> tuple[str, str]:
    """(words, colour) for one MCUboot slot."""
    if s.active:
        return ("runs · confirmed", COLOURS.ok) if s.confirmed else ("runs · ON TEST", COLOURS.warn)
    if s.pending:
        return ("pending (permanent)" if s.permanent else "pending (test)", COLOURS.info)
    if s.confirmed:
        return "fallback (confirmed)", COLOURS.ok
    return ("spare" if s.bootable else "not bootable"), COLOURS.text_dim


class StockPanel(QWidget):
    def __init__(
        self,
        targets: Any,
        report: Callable[[str, str], None],
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stockPanel")
        self.targets = targets
        self._report = report
        self._settings = settings
        self.view: Any = None
        self.busy = False
        self.summary = QLabel("")
        self.summary.setObjectName("stockSummary")
        self.summary.setWordWrap(True)
        self.caps_box = QGroupBox("What this device can do")
        self.caps_layout = QVBoxLayout(self.caps_box)
        self.caps_layout.setSpacing(2)
        self.caps_ok = QLabel("")
        self.caps_ok.setObjectName("capsAvailable")
        self.caps_ok.setWordWrap(True)
        self.caps_layout.addWidget(self.caps_ok)
        #: One greyed-out line per missing feature, with the reason.
        self.cap_labels: dict[str, QLabel] = {}

        overview = QWidget()
        ov = QVBoxLayout(overview)
        ov.addWidget(self.summary)
        ov.addWidget(self.caps_box)
        ov.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("stockTabs")
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(self._firmware_tab(), "Firmware")
        self.tabs.addTab(self._files_tab(), "Files")
        self.stats_tab = StatsTab(self._live)
        self.tabs.addTab(self.stats_tab, "Statistics")
        self.shell_tab = ShellTab(self._shell, settings)
        self.tabs.addTab(self.shell_tab, "Shell")
        self.tabs.currentChanged.connect(self._tab_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)

    # --------------------------------------------------------------- building
    def _firmware_tab(self) -> QWidget:
        w = QWidget()
        self.images = rows_table(IMAGE_COLUMNS, "imagesTable")
        self.upgrade_button = QPushButton("Upgrade…")
        self.upgrade_button.setObjectName("upgradeButton")
        self.upgrade_button.clicked.connect(self.pick_and_upgrade)
        self.confirm_button = QPushButton("Confirm")
        self.confirm_button.setObjectName("confirmImageButton")
        self.confirm_button.clicked.connect(
            lambda: self._call("confirm", self.targets.stock.confirm_image)
        )
        self.revert_button = QPushButton("Revert")
        self.revert_button.setObjectName("revertButton")
        self.revert_button.clicked.connect(lambda: self._call("revert", self.targets.stock.revert))
        self.erase_button = QPushButton("Erase slot 1")
        self.erase_button.setObjectName("eraseButton")
        self.erase_button.clicked.connect(lambda: self._call("erase", self.targets.stock.erase))
        row = QHBoxLayout()
        for b in (self.upgrade_button, self.confirm_button, self.revert_button, self.erase_button):
            b.setMinimumHeight(30)
            row.addWidget(b)
        row.addStretch(1)
        self.image_hint = QLabel("")
        self.image_hint.setObjectName("imageHint")
        self.image_hint.setWordWrap(True)
        layout = QVBoxLayout(w)
        layout.addWidget(self.images)
        layout.addLayout(row)
        layout.addWidget(self.image_hint)
        layout.addStretch(1)
        return w

    def _files_tab(self) -> QWidget:
        w = QWidget()
        self.remote = QLineEdit(self._setting("stock/remote", DEFAULT_REMOTE))
        self.remote.setObjectName("remotePath")
        self.remote.setFont(mono())
        self.remote.setToolTip("The path on the device, e.g. /lfs1/model.onnx")
        self.put_button = QPushButton("Put file…")
        self.put_button.setObjectName("putFileButton")
        self.put_button.clicked.connect(self.pick_and_put)
        self.model_button = QPushButton("Place bundle model…")
        self.model_button.setObjectName("placeModelButton")
        self.model_button.setToolTip(
            "Verify a signed bundle and write its model to the path; the device's hash of "
            "the path before and after goes to the journal"
        )
        self.model_button.clicked.connect(self.pick_and_place)
        self.get_button = QPushButton("Get file…")
        self.get_button.setObjectName("getFileButton")
        self.get_button.clicked.connect(self.pick_and_get)
        row = QHBoxLayout()
        for b in (self.put_button, self.model_button, self.get_button):
            row.addWidget(b)
        row.addStretch(1)
        self.files_note = QLabel("")
        self.files_note.setWordWrap(True)
        self.files_note.setStyleSheet(f"color: {COLOURS.text_dim};")
        layout = QVBoxLayout(w)
        path_row = QHBoxLayout()
        path_row.addWidget(QLabel("Device path:"))
        path_row.addWidget(self.remote, 1)
        layout.addLayout(path_row)
        layout.addLayout(row)
        layout.addWidget(self.files_note)
        layout.addStretch(1)
        return w

    # ---------------------------------------------------------------- showing
    def show_view(self, view: Any, busy: bool) -> None:
        new_device = self.view is None or self.view.url != view.url
        self.view = view
        self.busy = busy
        s = view.stock
        revert = {True: "unconfirmed images revert", False: "no revert", None: "revert unknown"}
        downgrade = {True: "downgrades prevented", False: "downgrades allowed", None: ""}
        bits = [
            f"<b>{s.board or 'Zephyr device'}</b>",
            f"{s.bootloader or 'no bootloader info'} · {s.mode} · {revert[s.can_revert]}",
        ]
        if downgrade[s.no_downgrade]:
            bits.append(downgrade[s.no_downgrade])
        bits.append(f"groups by {s.source}: {', '.join(s.groups)}")
        self.summary.setText(" · ".join(bits))
        self.summary.setToolTip(s.os_info)
        self._show_caps(s)
        for i, (_name, key) in enumerate(TABS):
            if key:
                self.tabs.setTabEnabled(i, s.has(key))
                self.tabs.setTabToolTip(i, s.why_not(key))
        self._show_images(s)
        self._apply(s)
        self.stats_tab.show_stats(s)
        self.shell_tab.show_shell(s.shell, reset=new_device)
        fs_hash = next((c for c in s.capabilities if c.key == "fs.hash"), None)
        self.files_note.setText(
            "Transfers resume after a cut and are checked with the device's "
            + (fs_hash.reason if fs_hash and fs_hash.available else "read-back (no hash command)")
        )

    def _show_caps(self, s: Any) -> None:
        """Available features on one wrapping line; each missing one on its own line,
        greyed out, with the reason."""
        available = [c for c in s.capabilities if c.available]
        self.caps_ok.setText("✓ " + " · ".join(c.label for c in available) if available else "")
        self.caps_ok.setToolTip("\n".join(f"{c.label}: {c.reason}" for c in available if c.reason))
        for shown in self.cap_labels.values():
            shown.hide()
        for c in s.capabilities:
            if c.available:
                continue
            label = self.cap_labels.get(c.key)
            if label is None:
                label = QLabel()
                label.setObjectName(f"cap_{c.key}")
                label.setWordWrap(True)
                label.setEnabled(False)  # greyed out, the reason still readable
                label.setStyleSheet(f"color: {COLOURS.text_dim};")
                self.cap_labels[c.key] = label
                self.caps_layout.addWidget(label)
            label.setText(f"✗ {c.label} — {c.reason}")
            label.setToolTip(c.reason)
            label.show()

    def _show_images(self, s: Any) -> None:
        rows = list(s.images)
        if s.spare is None:
            rows.append(None)
        self.images.setRowCount(len(rows))
        for r, img in enumerate(rows):
            if img is None:
                cells = ("1", "–", "empty", "–")
                colour = COLOURS.text_dim
            else:
                words, colour = image_state(img)
                cells = (str(img.slot), img.version, words, img.hash[:16] + "…")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setForeground(QColor(colour))
                if c == 3 and img is not None:
                    item.setToolTip(img.hash)
                self.images.setItem(r, c, item)
        fit_to_rows(self.images)

    def _apply(self, s: Any) -> None:
        """Enable what the slot states allow; say why for the rest."""
        ready = not self.busy and self.view is not None and self.view.state == "connected"
        running, spare = s.running, s.spare
        on_test = running is not None and not running.confirmed
        rules = {
            self.upgrade_button: (
                s.why_not("image.upload")
                or ("finish the test first: Confirm or Revert" if on_test else "")
                or ("slot 1 is pending: reset to run it" if spare and spare.pending else "")
            ),
            self.confirm_button: (
                s.why_not("image.list") or ("" if on_test else "nothing on test to confirm")
            ),
            self.revert_button: (
                s.why_not("reset")
                or ("" if on_test else "the running image is confirmed: nothing to revert to")
            ),
            self.erase_button: (
                s.why_not("image.erase")
                or ("slot 1 is empty" if spare is None else "")
                or ("slot 1 is pending for the next boot" if spare and spare.pending else "")
                or (
                    "slot 1 is the fallback MCUboot reverts to" if spare and spare.confirmed else ""
                )
            ),
        }
        tips = {
            self.upgrade_button: "Check an MCUboot image (signature, version, board), upload it, "
            "test it across a reset and confirm it",
            self.confirm_button: "Keep the image on test: MCUboot will not revert it",
            self.revert_button: "Reset without confirming: MCUboot returns to the confirmed image",
            self.erase_button: "Erase the spare image in slot 1",
        }
        for button, why in rules.items():
            button.setEnabled(ready and not why)
            button.setToolTip(why or tips[button])
        for b in (self.put_button, self.model_button, self.get_button):
            b.setEnabled(ready and s.has("fs"))
        self.shell_tab.run_button.setEnabled(ready and s.has("shell"))
        if on_test and running is not None:
            back = f"; Revert (or any reset) returns to {spare.version}" if spare else ""
            self.image_hint.setText(f"{running.version} runs on test: Confirm keeps it{back}.")
            self.image_hint.setStyleSheet(f"color: {COLOURS.warn};")
        else:
            self.image_hint.setText("")

    # --------------------------------------------------------------- commands
    def _setting(self, key: str, default: str) -> str:
        if self._settings is None:
            return default
        value = self._settings.value(key, default)
        return str(value) if value else default

    def _remember(self, key: str, value: Any) -> None:
        if self._settings is not None:
            self._settings.setValue(key, value)

    def _call(self, doing: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        if self.view is None:
            return
        try:
            fn(self.view.url, *args, **kw)
        except Exception as exc:
            self._report("error", f"Could not {doing}: {exc}")

    def _tab_changed(self, index: int) -> None:
        # Reading statistics costs the device: only while their tab is in front.
        stock = self.view.stock if self.view is not None else None
        if stock is not None and stock.watching and TABS[index][1] != "stats":
            self._live(False)

    def _live(self, on: bool) -> None:
        self._call("watch statistics", self.targets.stock.watch_stats, on)

    def _shell(self, command: str) -> None:
        self._call("run the command", self.targets.stock.shell, command)

    def pick_and_upgrade(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Upgrade firmware: an MCUboot image",
            self._setting("stock/firmware_dir", str(Path.home())),
            "MCUboot images (*.bin *.signed.bin);;All files (*)",
        )
        if path:
            self.upgrade(path)

    def upgrade(self, path: str, choice: dict[str, Any] | None = None) -> None:
        """Ask for the options (unless given) and start the upgrade."""
        s = self.view.stock if self.view is not None else None
        if s is None:
            return
        self._remember("stock/firmware_dir", str(Path(path).parent))
        if choice is None:
            dialog = FirmwareDialog(
                path,
                keys=settings_list(self._settings, "stock/keys"),
                can_revert=s.can_revert,
                running=s.running.version if s.running else "",
                parent=self,
            )
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            choice = dialog.choice()
            self._remember("stock/keys", list(choice["keys"]))
        self._call("upgrade", self.targets.stock.upgrade, path, **choice)

    def _remote(self) -> str:
        remote = self.remote.text().strip()
        self._remember("stock/remote", remote)
        return remote

    def pick_and_put(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Put a file on the device", str(Path.home()))
        if path:
            self._call("put the file", self.targets.stock.put_file, path, self._remote())

    def pick_and_place(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Place a bundle's model", str(Path.home()), "EdgeConsole bundles (*.ecb)"
        )
        if path:
            self._call("place the model", self.targets.stock.place_model, path, self._remote())

    def pick_and_get(self) -> None:
        remote = self._remote()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the device's file", str(Path.home() / Path(remote).name)
        )
        if path:
            self._call("get the file", self.targets.stock.get_file, remote, path)
