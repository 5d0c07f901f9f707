"""Fleet inventory: every target this laptop has seen, with its slots and bundles.

Lives in the audit database (durable). Flags targets of the same hardware id
that run different bundle versions, e.g. after a partial over-the-air round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeconsole.journal.audit import AuditJournal
from edgeconsole.journal.timebase import ns_to_iso, wall_ns

#: Slot states that mean "this is what the target runs".
RUNNING_STATES = frozenset({"CONFIRMED", "TRIAL", "ACTIVE"})


@dataclass(frozen=True)
class SlotRecord:
    slot: str
    state: str
    bundle_id: str | None = None
    bundle_version: int | None = None
    bundle_hash: str | None = None


@dataclass(frozen=True)
class TargetRecord:
    identity: str
    kind: str
    hardware_id: str
    firmware: str
    site: str
    first_seen_ns: int
    last_seen_ns: int
    slots: tuple[SlotRecord, ...] = ()

    def running(self) -> list[SlotRecord]:
        return [s for s in self.slots if s.state.upper() in RUNNING_STATES and s.bundle_id]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["slots"] = [asdict(s) for s in self.slots]
        return d


@dataclass(frozen=True)
class FleetInconsistency:
    hardware_id: str
    #: identity -> list of "bundle_id v<version>" it runs
    running: dict[str, list[str]] = field(default_factory=dict)

    def text(self) -> str:
        parts = [
            f"{ident}: {', '.join(v) or 'nothing'}" for ident, v in sorted(self.running.items())
        ]
        return f"hardware {self.hardware_id} runs different bundles: " + "; ".join(parts)


class FleetInventory:
    def __init__(self, audit: AuditJournal) -> None:
        self._audit = audit

    def seen(
        self,
        identity: str,
        *,
        hardware_id: str = "",
        kind: str = "",
        firmware: str = "",
        site: str = "",
        slots: Sequence[SlotRecord] | None = None,
    ) -> None:
        """Record that ``identity`` was seen now; ``slots`` (when given) replace the known ones."""
        now = wall_ns()
        conn = self._audit.conn
        with self._audit.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO targets(identity, kind, hardware_id, firmware, site,"
                    " first_seen_ns, last_seen_ns) VALUES (?,?,?,?,?,?,?)"
                    " ON CONFLICT(identity) DO UPDATE SET"
                    " kind=COALESCE(NULLIF(excluded.kind,''), kind),"
                    " hardware_id=COALESCE(NULLIF(excluded.hardware_id,''), hardware_id),"
                    " firmware=COALESCE(NULLIF(excluded.firmware,''), firmware),"
                    " site=COALESCE(NULLIF(excluded.site,''), site),"
                    " last_seen_ns=excluded.last_seen_ns",
                    (identity, kind, hardware_id, firmware, site, now, now),
                )
                if slots is not None:
                    conn.execute("DELETE FROM target_slots WHERE identity=?", (identity,))
                    conn.executemany(
                        "INSERT INTO target_slots(identity, slot, state, bundle_id,"
                        " bundle_version, bundle_hash, updated_ns) VALUES (?,?,?,?,?,?,?)",
                        [
                            (
                                identity,
                                s.slot,
                                s.state,
                                s.bundle_id,
                                s.bundle_version,
                                s.bundle_hash,
                                now,
                            )
                            for s in slots
                        ],
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def targets(self) -> list[TargetRecord]:
        with self._audit.lock:
            return read_targets(self._audit.conn)

    def inconsistencies(self) -> list[FleetInconsistency]:
        return find_inconsistencies(self.targets())


def read_targets(conn: sqlite3.Connection) -> list[TargetRecord]:
    """Every target in an audit database, with its slots (the inventory and the
    evidence pack both read it here)."""
    rows = conn.execute(
        "SELECT identity, kind, hardware_id, firmware, site, first_seen_ns, last_seen_ns"
        " FROM targets ORDER BY hardware_id, identity"
    ).fetchall()
    slot_rows = conn.execute(
        "SELECT identity, slot, state, bundle_id, bundle_version, bundle_hash"
        " FROM target_slots ORDER BY identity, slot"
    ).fetchall()
    slots: dict[str, list[SlotRecord]] = {}
    for ident, slot, state, bid, bver, bhash in slot_rows:
        slots.setdefault(ident, []).append(SlotRecord(slot, state, bid, bver, bhash))
    return [
        TargetRecord(i, k, hw, fw, site, first, last, tuple(slots.get(i, ())))
        for i, k, hw, fw, site, first, last in rows
    ]


def find_inconsistencies(targets: Iterable[TargetRecord]) -> list[FleetInconsistency]:
    """Hardware ids whose targets run different bundles (or versions)."""
    by_hw: dict[str, list[TargetRecord]] = {}
    for t in targets:
        if t.hardware_id:
            by_hw.setdefault(t.hardware_id, []).append(t)
    out = []
    for hw, group in sorted(by_hw.items()):
        if len(group) < 2:
            continue
        running = {
            t.identity: sorted(f"{s.bundle_id} v{s.bundle_version}" for s in t.running())
            for t in group
        }
        if len({tuple(v) for v in running.values()}) > 1:
            out.append(FleetInconsistency(hw, running))
    return out


def fleet_json(targets: list[TargetRecord]) -> dict[str, Any]:
    """The evidence pack's fleet.json: targets with ISO times, and the inconsistencies."""
    return {
        "targets": [
            {
                "identity": t.identity,
                "kind": t.kind,
                "hardware_id": t.hardware_id,
                "firmware": t.firmware,
                "site": t.site,
                "first_seen": ns_to_iso(t.first_seen_ns),
                "last_seen": ns_to_iso(t.last_seen_ns),
                "slots": [asdict(s) for s in t.slots],
            }
            for t in targets
        ],
        "inconsistencies": [
            {"hardware_id": f.hardware_id, "running": f.running}
            for f in find_inconsistencies(targets)
        ],
    }


#: fleet.csv: one row per slot (a target without slots gets one row).
FLEET_COLUMNS = (
    "identity",
    "kind",
    "hardware_id",
    "firmware",
    "slot",
    "state",
    "bundle_id",
    "bundle_version",
    "bundle_hash",
    "last_seen",
)


def fleet_rows(fleet: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for t in fleet["targets"]:
        base = (t["identity"], t["kind"], t["hardware_id"], t["firmware"])
        if not t["slots"]:
            rows.append((*base, "", "", "", "", "", t["last_seen"]))
        for s in t["slots"]:
            slot = (s["slot"], s["state"], s["bundle_id"], s["bundle_version"], s["bundle_hash"])
            rows.append((*base, *slot, t["last_seen"]))
    return rows
