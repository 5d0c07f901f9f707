"""The targets panel: what is attached, as a tree.

Top level groups are kinds of target: this laptop (its cameras and the
synthetic scene), serial devices, gateways. Later issues fill the last two by
adding rows under their group (``group(kind)``); activating any row that
carries a source spec asks the window to use it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from edgeconsole.session.demo_names import DEMO_SOURCE
from edgeconsole.ui.theme import COLOURS

SOURCE_ROLE = Qt.ItemDataRole.UserRole
KIND_ROLE = Qt.ItemDataRole.UserRole + 1

SYNTHETIC_CONVEYOR = DEMO_SOURCE

GROUPS: tuple[tuple[str, str], ...] = (
    ("laptop", "This laptop"),
    ("serial", "Serial devices"),
    ("gateway", "Gateways"),
)


class TargetsPanel(QTreeWidget):
    source_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Targets")
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.setIndentation(18)
        self.setToolTip("Double-click or press Enter on a source to use it")
        self._groups: dict[str, QTreeWidgetItem] = {}
        for kind, title in GROUPS:
            item = QTreeWidgetItem([title])
            item.setData(0, KIND_ROLE, kind)
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addTopLevelItem(item)
            self._groups[kind] = item
        self.itemActivated.connect(self._on_activated)
        self.set_cameras([])
        self._set_placeholder(
            "serial", "None connected", "Serial devices appear here when plugged in"
        )
        self._set_placeholder("gateway", "None found", "Gateways on the local network appear here")
        self.expandAll()

    def group(self, kind: str) -> QTreeWidgetItem:
        return self._groups[kind]

    def _set_placeholder(self, kind: str, text: str, tooltip: str = "") -> None:
        group = self._groups[kind]
        item = QTreeWidgetItem([text])
        item.setToolTip(0, tooltip or text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setForeground(0, QColor(COLOURS.text_dim))
        group.addChild(item)

    def set_cameras(self, cameras: list[dict[str, Any]]) -> None:
        """Rebuild the laptop group from ``session.list_cameras()``."""
        group = self._groups["laptop"]
        group.takeChildren()
        if cameras:
            for cam in cameras:
                index = int(cam.get("index", 0))
                name = str(cam.get("name") or f"Camera {index}")
                path = str(cam.get("path") or "")
                label = f"Camera {index}: {name}" + (f"  ({path})" if path else "")
                self._add_source(group, label, f"camera:{index}", tooltip=path or label)
        else:
            item = QTreeWidgetItem(["No cameras found"])
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            item.setForeground(0, QColor(COLOURS.text_dim))
            group.addChild(item)
        self._add_source(
            group,
            "Synthetic conveyor (demo)",
            SYNTHETIC_CONVEYOR,
            tooltip="A generated conveyor with labelled parts; no hardware needed",
        )
        from edgeconsole.session import demo_camera

        if demo_camera.available():
            self._add_source(
                group,
                "Conveyor through an emulated camera (demo)",
                demo_camera.demo_camera_spec(),
                tooltip="The demo conveyor played by pylon's camera emulation: frames arrive "
                "through the camera driver (frame ids, buffer counters, trigger)",
            )
        group.setExpanded(True)

    def _add_source(
        self, parent: QTreeWidgetItem, label: str, spec: str, tooltip: str = ""
    ) -> QTreeWidgetItem:
        item = QTreeWidgetItem([label])
        item.setData(0, SOURCE_ROLE, spec)
        item.setToolTip(0, tooltip or spec)
        parent.addChild(item)
        return item

    def source_items(self) -> list[tuple[str, str]]:
        """(label, spec) of every row that carries a source."""
        out: list[tuple[str, str]] = []
        for group in self._groups.values():
            for i in range(group.childCount()):
                child = group.child(i)
                spec = child.data(0, SOURCE_ROLE) if child is not None else None
                if child is not None and spec:
                    out.append((child.text(0), str(spec)))
        return out

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        spec = item.data(0, SOURCE_ROLE)
        if spec:
            self.source_activated.emit(str(spec))
