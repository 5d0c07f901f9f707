"""QC commissioning: run a labelled set through a target, judge it, sign a report.

Composition (session layer): ``bundles`` (verify the bundle under test),
``inference`` (the local engine, preprocess and heads), ``devices`` (the gateway
runs samples over OIP v2), ``journal`` (the console key, site settings, the
reports folder the evidence pack takes). No Qt here: the CLI
(``edgeconsole validate``) and the window (``ui/commission``) both drive
:class:`ValidationJob`.
"""

from __future__ import annotations

from edgeconsole.commission.job import (
    MIN_SAMPLES_PER_CLASS,
    ValidationJob,
    ValidationRequest,
    ValidationResult,
)
from edgeconsole.commission.report import WrittenReport, write_report
from edgeconsole.commission.signature import VerifyOutcome, verify_report

__all__ = [
    "MIN_SAMPLES_PER_CLASS",
    "ValidationJob",
    "ValidationRequest",
    "ValidationResult",
    "VerifyOutcome",
    "WrittenReport",
    "verify_report",
    "write_report",
]
