"""First-run dialog and Preferences page for the site and technician names.

    if not session.journal.site().complete:        # at start-up
        SiteDialog(session.journal, parent=window, first_run=True).open()
    SiteDialog(session.journal, parent=window).exec()   # Edit ▸ Site and technician…

The names stamp every journal entry, recording and evidence pack, so they are
asked once and saved through ``Journal.set_site`` (which also writes an audit
entry). A name that cannot be saved is explained in the dialog, never dropped.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.session.evidence import Journal, SiteSettings
from edgeconsole.ui.theme import COLOURS

MAX_NAME = 200  # the store refuses longer names; say so before trying


def validate(site: str, technician: str) -> str | None:
    """None when both names are usable, else the sentence to show."""
    missing = [n for n, v in (("site", site), ("technician", technician)) if not v.strip()]
    if missing:
        return (
            f"Enter the {' and the '.join(missing)} name"
            f"{'s' if len(missing) > 1 else ''}: "
            "they are stamped on every log entry, recording and evidence pack."
        )
    for name, value in (("Site", site), ("Technician", technician)):
        if len(" ".join(value.split())) > MAX_NAME:
            return f"{name} name is too long ({len(value)} characters; at most {MAX_NAME})."
    return None


class SiteDialog(QDialog):
    def __init__(
        self, journal: Journal, parent: QWidget | None = None, *, first_run: bool | None = None
    ) -> None:
        super().__init__(parent)
        self.journal = journal
        current = journal.site()
        self.first_run = (not current.complete) if first_run is None else first_run
        self.setWindowTitle("Welcome to EdgeConsole" if self.first_run else "Site and technician")
        self.setModal(True)
        self.setMinimumWidth(520)
        intro = QLabel(
            "Before you start: where are you and who are you? These names are stamped on "
            "every log entry, recording and evidence pack you take home. You can change "
            "them later in Preferences."
            if self.first_run
            else "These names are stamped on every new log entry, recording and evidence "
            "pack. Entries already written keep the names they had."
        )
        intro.setWordWrap(True)
        self.site_edit = QLineEdit(current.site)
        self.site_edit.setPlaceholderText("e.g. Plant 4, Line 2 — Rotterdam")
        self.site_edit.setMaxLength(MAX_NAME)
        self.site_edit.setAccessibleName("Site name")
        self.technician_edit = QLineEdit(current.technician)
        self.technician_edit.setPlaceholderText("Your name")
        self.technician_edit.setMaxLength(MAX_NAME)
        self.technician_edit.setAccessibleName("Technician name")
        form = QFormLayout()
        form.addRow("&Site:", self.site_edit)
        form.addRow("&Technician:", self.technician_edit)
        self.message = QLabel()
        self.message.setObjectName("siteMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {COLOURS.fail}; font-weight: bold;")
        self.message.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        if self.first_run:
            self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Later")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        (
            self.technician_edit if current.site and not current.technician else self.site_edit
        ).setFocus(Qt.FocusReason.OtherFocusReason)
        self.saved: SiteSettings | None = None

    def save(self) -> bool:
        """Validate and save; on success the dialog closes (accepted)."""
        site, tech = self.site_edit.text(), self.technician_edit.text()
        problem = validate(site, tech)
        if problem is None:
            try:
                self.saved = self.journal.set_site(SiteSettings(site=site, technician=tech))
            except (EdgeConsoleError, OSError) as exc:
                problem = f"Could not save the names: {exc}"
        if problem is not None:
            self.message.setText(problem)
            self.message.show()
            (self.technician_edit if site.strip() else self.site_edit).setFocus()
            return False
        self.message.hide()
        self.accept()
        return True
