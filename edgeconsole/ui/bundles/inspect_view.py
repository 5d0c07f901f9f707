"""What a bundle holds: overview, signers, model inputs/outputs, opset, operators,
parameters, metadata, quantization and files, as an expandable tree."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.ui.bundles.library import human_size
from edgeconsole.ui.theme import COLOURS

BAR_WIDTH = 24


def _shape(shape: list[int]) -> str:
    return (
        "["
        + ", ".join(
            "N" if d == -1 and i == 0 else ("?" if d == -1 else str(d)) for i, d in enumerate(shape)
        )
        + "]"
    )


class InspectView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Select a bundle to see what it holds.")
        self.heading.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", ""])
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(2)
        self.tree.setColumnWidth(0, 230)
        self.tree.header().setStretchLastSection(True)
        self.tree.setAccessibleName("Bundle contents")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(self.tree, 1)
        self.info: dict[str, Any] | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    def clear(self, text: str = "Select a bundle to see what it holds.") -> None:
        self.info = None
        self.tree.clear()
        self.heading.setText(text)
        self.heading.setStyleSheet("")

    def show_error(self, text: str) -> None:
        self.clear(f"✖ Cannot inspect: {text}")
        self.heading.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")

    def _section(self, title: str, expanded: bool = True) -> QTreeWidgetItem:
        item = QTreeWidgetItem([title])
        item.setFont(0, self._bold)
        self.tree.addTopLevelItem(item)
        item.setExpanded(expanded)
        return item

    def _row(
        self, parent: QTreeWidgetItem, *cols: str, colour: str | None = None
    ) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [str(c) for c in cols])
        if colour:
            for i in range(len(cols)):
                item.setForeground(i, QBrush(QColor(colour)))
        return item

    def texts(self) -> list[str]:
        """Every cell, flattened (what a person can read; used by tests)."""
        out: list[str] = []

        def walk(item: QTreeWidgetItem | None) -> None:
            if item is None:
                return
            out.extend(item.text(i) for i in range(2) if item.text(i))
            for k in range(item.childCount()):
                walk(item.child(k))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def show_info(self, info: dict[str, Any]) -> None:
        self.info = info
        self.tree.clear()
        trusted = info["trusted"]
        verdict = "trusted" if trusted else f"NOT trusted: {info['trust_reason']}"
        self.heading.setText(
            f"<b>{info['name']}</b> v{info['version']} — {human_size(info['size_bytes'])} — "
            f"<span style='color:{COLOURS.ok if trusted else COLOURS.warn}'>{verdict}</span>"
        )
        self.heading.setStyleSheet("")
        o = self._section("Overview")
        head = info.get("head") or {}
        self._row(o, "Head", str(head.get("type", "?")))
        labels = head.get("labels")
        if labels:
            shown = ", ".join(map(str, labels[:20])) + (" …" if len(labels) > 20 else "")
            self._row(o, "Labels", f"{len(labels)}: {shown}")
        budget = info.get("latency_budget_ms")
        self._row(o, "Latency budget", "none" if budget is None else f"{budget:g} ms")
        self._row(o, "Hardware", ", ".join(info["hardware_ids"]))
        self._row(o, "Created", str(info.get("created")))
        expires = info.get("expires") or "never"
        self._row(
            o,
            "Expires",
            f"{expires}{'  (EXPIRED)' if info.get('expired') else ''}",
            colour=COLOURS.fail if info.get("expired") else None,
        )
        fit = info.get("preprocessing")
        if fit:
            p = self._section("Preprocessing")
            self._row(p, "Steps", fit["text"])
            self._row(p, "Tensor per image", fit["produces"])
            self._row(p, "Model input", fit["model_input"])
            self._row(
                p,
                "Check",
                "fits the model" if fit["fits"] else "does NOT fit the model",
                colour=COLOURS.ok if fit["fits"] else COLOURS.fail,
            )
            for problem in fit["problems"]:
                self._row(p, "Problem", problem, colour=COLOURS.fail)
            helper = fit.get("helper")
            if helper:
                self._row(
                    p, f"Helper {helper['model']}", f"{helper['text']} → {helper['produces']}"
                )
        s = self._section("Signers")
        for sig in info["signers"]:
            ok = sig["status"] == "verified"
            self._row(
                s,
                sig.get("label") or "(unknown key)",
                f"{sig['status']} · key {sig['key_id']}",
                colour=COLOURS.ok if ok else COLOURS.warn,
            )
        if not info["signers"]:
            self._row(s, "nobody", "unsigned", colour=COLOURS.fail)
        q = self._section("Quantization")
        quant = info.get("quantization") or {}
        self._row(q, "Mode", str(quant.get("mode", "none")))
        for k, v in quant.items():
            if k != "mode":
                self._row(q, k.replace("_", " ").capitalize(), str(v))
        for name, mi in info["models"].items():
            main = " (main model)" if name == info.get("model") else ""
            m = self._section(f"Model {name}{main}")
            opsets = ", ".join(f"{d} {v}" for d, v in mi["opsets"].items())
            self._row(m, "Opset", opsets)
            self._row(m, "IR version", str(mi["ir_version"]))
            self._row(m, "Parameters", f"{mi['parameters']:,}")
            self._row(m, "Producer", mi["producer"] or "—")
            self._row(m, "Quantized", "yes" if mi["quantized"] else "no")
            for kind in ("inputs", "outputs"):
                for t in mi[kind]:
                    shape = f"{t['name']}: {t['dtype']} {_shape(t['shape'])}"
                    self._row(m, kind[:-1].capitalize(), shape)
            ops = QTreeWidgetItem(m, [f"Operators ({sum(mi['operators'].values())})"])
            ops.setExpanded(True)
            top = max(mi["operators"].values(), default=1)
            for op, n in mi["operators"].items():
                item = self._row(ops, op, str(n))
                # A bar per operator: the histogram, readable at a glance.
                bar = QProgressBar()
                bar.setRange(0, top)
                bar.setValue(n)
                bar.setFormat(str(n))
                bar.setTextVisible(True)
                bar.setMaximumWidth(BAR_WIDTH * 12)
                bar.setMaximumHeight(16)
                self.tree.setItemWidget(item, 1, bar)
            meta = mi.get("metadata_props") or {}
            md = QTreeWidgetItem(m, [f"Metadata ({len(meta)})"])
            for k, v in meta.items():
                self._row(md, k, str(v)[:200])
        f = self._section("Files", expanded=False)
        for n, e in info["files"].items():
            self._row(f, n, f"{human_size(e['length'])} · sha256 {e['sha256'][:16]}…")
