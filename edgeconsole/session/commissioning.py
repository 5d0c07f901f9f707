"""Commissioning as the window and the CLI reach it (``edgeconsole/commission/``).

The window and the CLI import the session and the core only (import-linter); this is
their door to the validation jobs (a labelled set, a moving line), the signed report
and its PDF. The runs go on the session's job runner (``session/jobs.py``).
"""

from __future__ import annotations

from edgeconsole.commission import (
    MIN_SAMPLES_PER_CLASS,
    ValidationJob,
    ValidationRequest,
    ValidationResult,
    VerifyOutcome,
    WrittenReport,
    verify_report,
    write_report,
)
from edgeconsole.commission.line_job import LineValidationJob, LineValidationRequest
from edgeconsole.commission.pdf import html_to_pdf
from edgeconsole.commission.plc_check import PlcCheckRequest

__all__ = [
    "MIN_SAMPLES_PER_CLASS",
    "LineValidationJob",
    "LineValidationRequest",
    "PlcCheckRequest",
    "ValidationJob",
    "ValidationRequest",
    "ValidationResult",
    "VerifyOutcome",
    "WrittenReport",
    "html_to_pdf",
    "verify_report",
    "write_report",
]
