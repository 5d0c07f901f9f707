"""Help > About: versions of everything that matters, and the licence of everything bundled.

Versions come from package metadata (``importlib.metadata``), not from importing
the packages: opening the dialog must not load onnxruntime or OpenCV. Licences
come from each installed distribution's own licence files, from
``resources/licenses/`` where a wheel ships none, from Python's own LICENSE and
from ``sample_models/*/LICENSE``. The frozen app has little package metadata,
so ``packaging/build.sh`` writes everything into ``licences.json`` at build time
(``python -m edgeconsole.ui.about --write-licences PATH``) and the dialog reads
that file instead.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFont, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import edgeconsole

#: Name of the generated file in the frozen app's folder.
LICENCES_FILE = "licences.json"
LICENCES_FORMAT = "edgeconsole.licences/1"
#: A licences file is text we wrote ourselves; anything larger is not ours.
MAX_LICENCES_BYTES = 32 * 1024 * 1024
#: Per text: the largest real one (GPL-3.0, onnxruntime's notices) is well under this.
MAX_TEXT_BYTES = 2 * 1024 * 1024

#: Top-level modules the app imports at run time; their distributions (and what
#: those require) are what a build bundles. Tools for tests and model builds are not.
RUNTIME_MODULES = (
    "PySide6", "shiboken6", "pyqtgraph", "numpy", "cv2", "onnxruntime", "serial",
    "cryptography", "mcap", "smp", "smpclient", "aiohttp", "zeroconf", "cbor2", "google",
)  # fmt: skip
#: Texts shipped in resources/licenses for wheels that carry none.
FALLBACK_TEXTS: dict[str, tuple[str, ...]] = {
    "edgeconsole": ("Apache-2.0.txt",),
    "pyside6-essentials": ("LGPL-3.0.txt", "GPL-3.0.txt"),
    "pyside6-addons": ("LGPL-3.0.txt", "GPL-3.0.txt"),
    "shiboken6": ("LGPL-3.0.txt", "GPL-3.0.txt"),
    "qt": ("LGPL-3.0.txt", "GPL-3.0.txt"),
    "pyserial": ("pyserial-BSD-3-Clause.txt",),
    "flatbuffers": ("Apache-2.0.txt",),
    "mcap": ("mcap-MIT.txt",),
}
#: Shown in the Versions tab, in this order: (label, distribution).
VERSION_DISTS = (
    ("PySide6", "PySide6-Essentials"),
    ("onnxruntime", "onnxruntime"),
    ("OpenCV", "opencv-python-headless"),
    ("numpy", "numpy"),
    ("pyqtgraph", "pyqtgraph"),
    ("pyserial", "pyserial"),
    ("cryptography", "cryptography"),
)
_LICENCE_FILE = re.compile(
    r"(^|/)(licen[cs]e|copying|notice|thirdpartynotices|authors)[^/]*$", re.I
)


@dataclass(frozen=True)
class Licence:
    name: str
    version: str
    licence: str  # SPDX-ish expression or the package's own words
    text: str
    kind: str  # "application", "runtime", "library", "sample model"


class LicencesFileError(ValueError):
    """The generated licences file is unreadable; the dialog says so and gathers live."""


# ------------------------------------------------------------------ locations
def app_root() -> Path:
    """The folder holding resources/ and sample_models/: the frozen app's or the repo's."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(edgeconsole.__file__).resolve().parent.parent


def resources_dir() -> Path:
    return app_root() / "resources"


def licences_path() -> Path:
    return app_root() / LICENCES_FILE


# ------------------------------------------------------------------- versions
def collect_versions(bundled: dict[str, str] | None = None) -> dict[str, str]:
    """Label -> version, without importing onnxruntime or OpenCV."""
    import PySide6

    if bundled is None:
        bundled = _bundled_versions()
    out = {
        "EdgeConsole": edgeconsole.__version__,
        "Python": sys.version.split()[0],
        "Qt": qVersion(),
    }
    for label, dist in VERSION_DISTS:
        version = _dist_version(dist) or bundled.get(dist.lower(), "")
        if not version and label == "PySide6":
            version = str(PySide6.__version__)
        out[label] = version or "not installed"
    return out


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _bundled_versions() -> dict[str, str]:
    path = licences_path()
    if not path.is_file():
        return {}
    try:
        return {lic.name.lower(): lic.version for lic in load_licences(path)}
    except LicencesFileError:
        return {}


# ------------------------------------------------------------------- licences
def collect_licences() -> list[Licence]:
    """The generated file in a frozen app (or a build that wrote one), else gathered live."""
    path = licences_path()
    if path.is_file():
        try:
            return load_licences(path)
        except LicencesFileError:
            pass  # gathered live below; the dialog lists what it can find
    return gather_licences(runtime_distributions())


def runtime_distributions(modules: Iterable[str] = RUNTIME_MODULES) -> list[str]:
    """Distributions of ``modules`` and everything they require (no extras), installed only."""
    by_module = metadata.packages_distributions()
    roots = ["edgeconsole"]
    for module in modules:
        roots.extend(by_module.get(module, []))
    return requirement_closure(roots)


def requirement_closure(roots: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = _norm(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist.metadata["Name"] or name
        for req in dist.requires or []:
            parsed = _requirement(req)
            if parsed:
                todo.append(parsed)
    return sorted(seen.values(), key=str.lower)


def _requirement(req: str) -> str | None:
    """The name in a requirement string if it applies here (no extras, markers true)."""
    try:
        from packaging.requirements import Requirement

        r = Requirement(req)
        if r.marker is not None and not r.marker.evaluate({"extra": ""}):
            return None
        return r.name
    except Exception:
        if "extra ==" in req:
            return None
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        return m.group(1) if m else None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def gather_licences(dists: Sequence[str]) -> list[Licence]:
    out = [_app_licence()]
    out.append(_python_licence())
    out.append(Licence("Qt", qVersion(), "LGPL-3.0-only", _fallback_text("qt"), "runtime"))
    for name in dists:
        if _norm(name) == "edgeconsole":
            continue
        lic = _dist_licence(name)
        if lic is not None:
            out.append(lic)
    out.extend(sample_model_licences())
    return out


def _app_licence() -> Licence:
    expr = "Apache-2.0"
    try:
        meta: Any = metadata.distribution("edgeconsole").metadata
        expr = meta.get("License-Expression") or meta.get("License") or expr
    except metadata.PackageNotFoundError:
        pass
    return Licence("EdgeConsole", edgeconsole.__version__, expr, _fallback_text("edgeconsole"),
                   "application")  # fmt: skip


def _python_licence() -> Licence:
    version = sys.version.split()[0]
    base = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    text = ""
    for candidate in (base / "LICENSE.txt", Path("/usr/share/doc/python3/copyright")):
        text = _read_text(candidate)
        if text:
            break
    return Licence("Python", version, "PSF-2.0", text, "runtime")


def _dist_licence(name: str) -> Licence | None:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    meta: Any = dist.metadata
    expr = meta.get("License-Expression") or ""
    if not expr:
        raw = (meta.get("License") or "").strip()
        # Some wheels put the whole text in the License field: keep its first line.
        expr = raw.splitlines()[0][:120] if raw else ""
    if not expr:
        classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                       if c.startswith("License ::")]  # fmt: skip
        expr = " OR ".join(classifiers) or "see text"
    texts: list[str] = []
    for f in dist.files or []:
        rel = str(f)
        if rel.endswith((".py", ".pyc", ".pyi", ".so")) or not _LICENCE_FILE.search(rel):
            continue
        body = _read_text(Path(str(dist.locate_file(f))))
        if body:
            texts.append(f"==> {rel} <==\n{body}")
    if not texts:
        fallback = _fallback_text(_norm(name))
        if fallback:
            texts.append(fallback)
    display = meta.get("Name") or name
    return Licence(display, dist.version, expr, "\n\n".join(texts), "library")


def sample_model_licences(root: Path | None = None) -> list[Licence]:
    folder = (root or app_root()) / "sample_models"
    out = []
    for path in sorted(folder.glob("*/LICENSE")):
        text = _read_text(path)
        first = text.strip().splitlines()[0] if text.strip() else ""
        out.append(Licence(f"sample model: {path.parent.name}", "", first, text, "sample model"))
    return out


def _fallback_text(key: str) -> str:
    parts = [_read_text(resources_dir() / "licenses" / f) for f in FALLBACK_TEXTS.get(key, ())]
    return "\n\n".join(p for p in parts if p)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TEXT_BYTES + 1)
    except OSError:
        return ""
    if len(data) > MAX_TEXT_BYTES:
        data = data[:MAX_TEXT_BYTES] + b"\n[... truncated]"
    return data.decode("utf-8", errors="replace")


# ------------------------------------------------------------ generated file
def write_licences(path: Path, licences: Sequence[Licence]) -> Path:
    doc = {"format": LICENCES_FORMAT, "licences": [asdict(lic) for lic in licences]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def load_licences(path: Path) -> list[Licence]:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_LICENCES_BYTES + 1)
    except OSError as exc:
        raise LicencesFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_LICENCES_BYTES:
        raise LicencesFileError(f"{path} is larger than {MAX_LICENCES_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LicencesFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != LICENCES_FORMAT:
        raise LicencesFileError(f"{path} is not an {LICENCES_FORMAT} file")
    entries = doc.get("licences")
    if not isinstance(entries, list):
        raise LicencesFileError(f"{path}: 'licences' must be a list")
    out = []
    fields = ("name", "version", "licence", "text", "kind")
    for i, e in enumerate(entries):
        if (
            not isinstance(e, dict)
            or set(e) != set(fields)
            or not all(isinstance(e[k], str) for k in fields)
        ):
            raise LicencesFileError(f"{path}: entry {i} must hold exactly {', '.join(fields)}")
        out.append(Licence(**{k: e[k] for k in fields}))
    return out


# --------------------------------------------------------------------- dialog
class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About EdgeConsole")
        self.setObjectName("aboutDialog")
        self.resize(860, 600)
        self.versions = collect_versions()
        self.licences = collect_licences()

        header = QHBoxLayout()
        icon = QLabel()
        pix = QPixmap(str(resources_dir() / "icons" / "edgeconsole-64.png"))
        if not pix.isNull():
            icon.setPixmap(pix)
        header.addWidget(icon)
        title = QLabel(
            f"<h2>EdgeConsole {edgeconsole.__version__}</h2>"
            "Offline field console for edge AI devices: connect, flash model bundles "
            "safely, watch live inference and latency, export signed evidence."
        )
        title.setWordWrap(True)
        header.addWidget(title, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._versions_tab(), "Versions")
        self.tabs.addTab(self._licences_tab(), "Licences")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy versions")
        self.copy_button.clicked.connect(self.copy_versions)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    def versions_text(self) -> str:
        width = max(len(k) for k in self.versions)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.versions.items())

    def _versions_tab(self) -> QWidget:
        self.versions_view = QPlainTextEdit(self.versions_text())
        self.versions_view.setReadOnly(True)
        self.versions_view.setFont(QFont("monospace"))
        return self.versions_view

    def _licences_tab(self) -> QWidget:
        self.licence_list = QListWidget()
        self.licence_text = QPlainTextEdit()
        self.licence_text.setReadOnly(True)
        self.licence_text.setFont(QFont("monospace"))
        for lic in self.licences:
            label = f"{lic.name} {lic.version}".strip() + f" — {lic.licence}"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, lic.name)
            self.licence_list.addItem(item)
        self.licence_list.currentRowChanged.connect(self._show_licence)
        splitter = QSplitter()
        splitter.addWidget(self.licence_list)
        splitter.addWidget(self.licence_text)
        splitter.setSizes([300, 560])
        if self.licences:
            self.licence_list.setCurrentRow(0)
        return splitter

    def _show_licence(self, row: int) -> None:
        if 0 <= row < len(self.licences):
            lic = self.licences[row]
            self.licence_text.setPlainText(lic.text or "(no licence text found)")

    def select_licence(self, name: str) -> bool:
        for row, lic in enumerate(self.licences):
            if lic.name.lower() == name.lower():
                self.tabs.setCurrentIndex(1)
                self.licence_list.setCurrentRow(row)
                return True
        return False

    def copy_versions(self) -> None:
        QGuiApplication.clipboard().setText(self.versions_text())


def show_about(parent: QWidget | None = None) -> AboutDialog:
    """Open the dialog without blocking (the window keeps polling); returns it for tests."""
    dialog = AboutDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgeconsole.ui.about")
    p.add_argument("--write-licences", type=Path, required=True, metavar="PATH")
    p.add_argument("--dists", nargs="*", help="distributions bundled (default: the run-time set)")
    args = p.parse_args(argv)
    dists = args.dists if args.dists else runtime_distributions()
    lics = gather_licences(dists)
    write_licences(args.write_licences, lics)
    missing = [lic.name for lic in lics if not lic.text.strip()]
    print(f"{len(lics)} licences written to {args.write_licences}")
    if missing:
        print(f"no licence text for: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
