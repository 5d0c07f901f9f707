"""Build wizard: ONNX file -> description -> optional INT8 (with the FP32-vs-INT8
table) -> signing and output -> build on a worker thread, read back, done.

Every page only collects answers; ``session.workshop`` does the work.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QWidget,
    QWizard,
)

from edgeconsole.session import workshop as bj
from edgeconsole.session.jobs import JobRunner as SessionJobs
from edgeconsole.ui.bundles.wizard_describe import DescribePage, ModelPage
from edgeconsole.ui.bundles.wizard_steps import BuildPage, Int8Page, SignPage
from edgeconsole.ui.jobs import JobRunner

__all__ = ["BuildPage", "BuildWizard", "DescribePage", "Int8Page", "ModelPage", "SignPage"]


class BuildWizard(QWizard):
    built = Signal(Path)

    def __init__(
        self,
        trust_dir: Path,
        output_dir: Path,
        parent: QWidget | None = None,
        jobs: SessionJobs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Build a signed model bundle")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.trust_dir = trust_dir
        self.output_dir = output_dir
        self.runner = JobRunner(self, jobs)
        self.model_page = ModelPage()
        self.describe_page = DescribePage()
        self.int8_page = Int8Page(self.runner)
        self.sign_page = SignPage()
        self.build_page = BuildPage(self.runner)
        for p in (
            self.model_page,
            self.describe_page,
            self.int8_page,
            self.sign_page,
            self.build_page,
        ):
            self.addPage(p)
        self.resize(900, 720)
        from edgeconsole.ui.bundles.panel import INDICATORS

        self.setStyleSheet(INDICATORS)

    def request(self, draft: bool = False) -> bj.BuildRequest:
        """The answers so far; ``draft`` fills name/key/output with placeholders so the
        description can be checked before the last page."""
        s = self.sign_page
        name = s.name.text().strip() or ("draft" if draft else "")
        return bj.BuildRequest(
            model=self.model_page.model(),
            name=name,
            version=s.version.value(),
            preprocess=self.describe_page.preprocess(),
            head=self.describe_page.head_dict(),
            hardware_ids=[h.strip() for h in s.hardware.text().split(",") if h.strip()]
            or (["laptop"] if draft else []),
            key_file=Path(s.key.text().strip() or "draft.key"),
            out=Path(s.out.text().strip() or "draft.ecb"),
            passphrase=s.passphrase.text().encode() or None,
            budget_ms=self.describe_page.budget_ms(),
            int8=self.int8_page.mode(),
            calib_dir=self.int8_page.calib_dir(),
            overwrite=s.overwrite.isChecked(),
            golden=dict(self.describe_page.golden),
        )

    def reject(self) -> None:
        # Closing the wizard stops its work; the thread ends at its next check.
        self.runner.cancel()
        super().reject()

    def shutdown(self) -> None:
        self.runner.cancel()
        self.runner.wait()
