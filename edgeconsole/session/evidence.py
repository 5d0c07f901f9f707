"""The journal as the window and the command line reach it (``edgeconsole/journal/``):
audit entries, the fleet, site settings, recordings and their replay, the signed
evidence pack and its verification, and the app's folders.

One door, like ``session/workshop.py`` for bundles: ``ui/`` and ``cli/`` import the
session and the core only (import-linter).
"""

from __future__ import annotations

from edgeconsole.journal.audit import LEVELS, AuditEntry
from edgeconsole.journal.csvsafe import write_csv
from edgeconsole.journal.export import EvidencePackJob, ExportRequest, ExportResult
from edgeconsole.journal.fleet import (
    RUNNING_STATES,
    FleetInconsistency,
    SlotRecord,
    TargetRecord,
)
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.keys import ConsoleKey, public_pem
from edgeconsole.journal.pack_trust import OWN_LABEL, TrustedKey, trusted_keys
from edgeconsole.journal.paths import app_data_dir, journal_dir, reports_dir
from edgeconsole.journal.recorder import McapRecorderSink, RecordingMeta
from edgeconsole.journal.replay import RecordingInfo, RecordingReader, ReplayBatch, ReplaySource
from edgeconsole.journal.settings import SettingsStore, SiteSettings
from edgeconsole.journal.timebase import wall_ns
from edgeconsole.journal.verify import VerifyReport, verify_pack

__all__ = [
    "LEVELS",
    "OWN_LABEL",
    "RUNNING_STATES",
    "AuditEntry",
    "ConsoleKey",
    "EvidencePackJob",
    "ExportRequest",
    "ExportResult",
    "FleetInconsistency",
    "Journal",
    "McapRecorderSink",
    "RecordingInfo",
    "RecordingMeta",
    "RecordingReader",
    "ReplayBatch",
    "ReplaySource",
    "SettingsStore",
    "SiteSettings",
    "SlotRecord",
    "TargetRecord",
    "TrustedKey",
    "VerifyReport",
    "app_data_dir",
    "journal_dir",
    "public_pem",
    "reports_dir",
    "trusted_keys",
    "verify_pack",
    "wall_ns",
    "write_csv",
]
