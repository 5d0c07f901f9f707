"""The journal the session owns: audit (FULL), telemetry/results/latency (NORMAL), fleet.

journal = Journal.open(journal_dir(), settings_store)
journal.audit.log("connection", "info", "serial:///dev/ttyACM0", "connected", fw="1.2")
journal.telemetry.add_latency(target, sample)
journal.fleet.seen(identity, hardware_id=..., slots=[...])
for n in journal.notices.drain(): ...   # -> session Event(level, text, kind, wall_time)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeconsole.journal.audit import AuditJournal, quarantine_text
from edgeconsole.journal.fleet import FleetInventory
from edgeconsole.journal.notices import NoticeBoard
from edgeconsole.journal.paths import ensure_dir, journal_dir
from edgeconsole.journal.settings import SettingsStore, SiteSettings
from edgeconsole.journal.telemetry_sink import TelemetryHealth, TelemetryLimits, TelemetrySink


@dataclass
class JournalHealth:
    telemetry: TelemetryHealth
    audit_pending: int
    audit_dropped: int


class Journal:
    def __init__(
        self,
        directory: Path,
        settings: SettingsStore | None = None,
        limits: TelemetryLimits | None = None,
    ) -> None:
        self.dir = ensure_dir(directory)
        self.settings_store = settings or SettingsStore(self.dir.parent / "site.json")
        self._settings = self._load_settings()
        self.notices = NoticeBoard()
        self.audit = AuditJournal(self.dir / "audit.db", self.notices, self.site)
        if self.audit.quarantined is not None:
            text = quarantine_text(self.audit.quarantined)
            self.notices.post("error", text)
            self.audit.log(
                "journal", "error", "", text, moved_to=str(self.audit.quarantined.moved_to)
            )
        self.fleet = FleetInventory(self.audit)
        self.telemetry = TelemetrySink(self.dir, self.notices, limits, on_quarantine=self._told)

    @classmethod
    def open(
        cls,
        directory: Path | None = None,
        settings: SettingsStore | None = None,
        limits: TelemetryLimits | None = None,
    ) -> Journal:
        return cls(directory if directory is not None else journal_dir(), settings, limits)

    def _load_settings(self) -> SiteSettings:
        try:
            return self.settings_store.load()
        except Exception:
            # A damaged settings file must not stop the journal; the first-run dialog asks again.
            return SiteSettings()

    def _told(self, text: str) -> None:
        self.notices.post("error", text)
        self.audit.log("journal", "error", "", text)

    def site(self) -> SiteSettings:
        return self._settings

    def set_site(self, settings: SiteSettings) -> SiteSettings:
        """Save new site/technician names (Preferences); later entries carry them."""
        old = self._settings
        self._settings = self.settings_store.save(settings)
        self.audit.log(
            "settings",
            "info",
            "",
            "site/technician changed",
            old_site=old.site,
            old_technician=old.technician,
            site=self._settings.site,
            technician=self._settings.technician,
        )
        return self._settings

    def record_recording(
        self,
        path: Path,
        target: str,
        started_ns: int,
        ended_ns: int | None,
        frames: int,
        dropped: int,
    ) -> None:
        with self.audit.lock:
            self.audit.conn.execute(
                "INSERT INTO recordings(path, target, started_ns, ended_ns, frames, dropped)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET ended_ns=excluded.ended_ns,"
                " frames=excluded.frames, dropped=excluded.dropped",
                (str(path), target, started_ns, ended_ns, frames, dropped),
            )

    def recordings(self) -> list[tuple[str, str, int, int | None, int, int]]:
        with self.audit.lock:
            return self.audit.conn.execute(
                "SELECT path, target, started_ns, ended_ns, frames, dropped FROM recordings"
                " ORDER BY started_ns"
            ).fetchall()

    def health(self) -> JournalHealth:
        """Call on a timer (~1 s): retries held audit entries and reports both classes."""
        self.audit.retry()
        return JournalHealth(
            self.telemetry.health(), self.audit.pending, self.audit.pending_dropped
        )

    def close(self) -> None:
        self.telemetry.close()
        self.audit.close()
