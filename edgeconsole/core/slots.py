"""The model-slot state machine of DESIGN section 5, with atomic persistence.

A target holds two slots. Each is ``EMPTY -> STAGING -> STAGED -> TRIAL(attempts)
-> CONFIRMED`` or ``BAD``. Exactly one slot is *the confirmed slot* (the known-good
fallback); at most one slot is on trial. The running slot is the trial slot if
there is one, else the confirmed slot. Uploads go only into the inactive slot, so
the running bundle is never written.

Transitions are pure functions of :class:`SlotTable` (easy to test exhaustively);
:class:`SlotStore` persists a table as one JSON file with temp file, fsync,
rename, fsync of the directory, so a power cut leaves either the old or the new
table on disk, never a torn one. Every persistence step calls an optional hook
first, which is how the virtual device injects "power loss at the Nth write".

Used by the virtual serial device (sim) and by the gateway agent (agent).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from edgeconsole.core.atomic import WriteHook, atomic_write, stale_temps
from edgeconsole.core.errors import EdgeConsoleError

#: Boots a trial bundle gets before it is declared bad (a crash loop ends here).
DEFAULT_TRIAL_ATTEMPTS = 3
#: A slot table is tiny; anything bigger on disk is not ours.
MAX_TABLE_BYTES = 64 * 1024
SCHEMA = "edgeconsole.slots/1"


class SlotState(StrEnum):
    EMPTY = "empty"
    STAGING = "staging"
    STAGED = "staged"
    TRIAL = "trial"
    CONFIRMED = "confirmed"
    BAD = "bad"


class SlotTransitionError(EdgeConsoleError):
    """A slot operation is not allowed in the current state (nothing was changed)."""


class SlotStoreError(EdgeConsoleError):
    """The persisted slot table cannot be read."""


@dataclass(frozen=True, slots=True)
class SlotRecord:
    index: int
    state: SlotState = SlotState.EMPTY
    sha256: str = ""  # hex digest of the slot's payload
    length: int = 0
    bundle_id: str = ""
    version: int = 0
    attempts: int = 0  # trial boots left (TRIAL only)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@dataclass(frozen=True, slots=True)
class SlotTable:
    slots: tuple[SlotRecord, ...]
    confirmed: int | None  # index of the known-good fallback slot

    # -- queries ---------------------------------------------------------------
    @property
    def trial(self) -> int | None:
        for rec in self.slots:
            if rec.state is SlotState.TRIAL:
                return rec.index
        return None

    @property
    def running(self) -> int | None:
        """The slot whose bundle runs now: the trial slot, else the confirmed one."""
        trial = self.trial
        return trial if trial is not None else self.confirmed

    @property
    def inactive(self) -> int:
        """The slot an upload may write: neither running nor the confirmed fallback."""
        busy = {self.confirmed, self.trial}
        for rec in self.slots:
            if rec.index not in busy:
                return rec.index
        raise SlotTransitionError(
            "no inactive slot to upload into",
            hint="confirm or roll back the bundle on trial first",
        )

    def slot(self, index: int) -> SlotRecord:
        if not 0 <= index < len(self.slots):
            raise SlotTransitionError(
                f"slot {index} does not exist", hint=f"slots are 0..{len(self.slots) - 1}"
            )
        return self.slots[index]

    def with_slot(self, rec: SlotRecord, **changes: Any) -> SlotTable:
        new = replace(rec, **changes)
        slots = tuple(new if s.index == rec.index else s for s in self.slots)
        return replace(self, slots=slots)

    # -- transitions (pure) ----------------------------------------------------
    def begin_staging(self, index: int, sha256: str, length: int) -> SlotTable:
        rec = self.slot(index)
        if index != self.inactive:
            raise SlotTransitionError(
                f"slot {index} is in use ({rec.state.value}) and is never written",
                hint=f"upload into slot {self.inactive}",
            )
        if length <= 0 or len(sha256) != 64:
            raise SlotTransitionError("an upload needs a length and a sha256")
        return self.with_slot(
            rec, state=SlotState.STAGING, sha256=sha256, length=length, bundle_id="", version=0
        )

    def finish_staging(self, index: int, sha256: str) -> SlotTable:
        rec = self.slot(index)
        if rec.state is not SlotState.STAGING:
            raise SlotTransitionError(f"slot {index} is not being staged ({rec.state.value})")
        if rec.sha256 != sha256:
            raise SlotTransitionError(
                f"slot {index} content hash does not match the announced sha256",
                hint="upload the bundle again",
            )
        return self.with_slot(rec, state=SlotState.STAGED)

    def discard_staging(self, index: int) -> SlotTable:
        rec = self.slot(index)
        if rec.state is not SlotState.STAGING:
            return self
        return self.with_slot(rec, state=SlotState.BAD)

    def activate(
        self,
        index: int,
        *,
        attempts: int = DEFAULT_TRIAL_ATTEMPTS,
        bundle_id: str | None = None,
        version: int | None = None,
    ) -> SlotTable:
        rec = self.slot(index)
        if rec.state is SlotState.TRIAL:
            return self  # repeating an activation is harmless
        if self.trial is not None:
            raise SlotTransitionError(
                f"slot {self.trial} is already on trial", hint="confirm or roll it back first"
            )
        if rec.state is not SlotState.STAGED:
            raise SlotTransitionError(
                f"slot {index} cannot go on trial from {rec.state.value}",
                hint="upload a bundle into it first",
            )
        if attempts < 1:
            raise SlotTransitionError("a trial needs at least one attempt")
        return self.with_slot(
            rec,
            state=SlotState.TRIAL,
            attempts=attempts,
            bundle_id=rec.bundle_id if bundle_id is None else bundle_id,
            version=rec.version if version is None else version,
        )

    def confirm(self, index: int | None = None) -> SlotTable:
        target = self.running if index is None else index
        if target is None:
            raise SlotTransitionError("nothing is running to confirm")
        rec = self.slot(target)
        if rec.state is SlotState.CONFIRMED and self.confirmed == target:
            return self  # idempotent
        if rec.state is not SlotState.TRIAL:
            raise SlotTransitionError(
                f"slot {target} is {rec.state.value}, only a bundle on trial can be confirmed"
            )
        table = self.with_slot(rec, state=SlotState.CONFIRMED, attempts=0)
        return replace(table, confirmed=target)

    def rollback(self) -> SlotTable:
        """Leave the trial (marking it bad), or go back to the previous confirmed bundle."""
        trial = self.trial
        if trial is not None:
            return self.with_slot(self.slot(trial), state=SlotState.BAD, attempts=0)
        for rec in self.slots:
            if rec.index != self.confirmed and rec.state is SlotState.CONFIRMED:
                old = self.slot(self.confirmed) if self.confirmed is not None else None
                table = replace(self, confirmed=rec.index)
                if old is not None:
                    # Still a valid image; it may go on trial again later.
                    table = table.with_slot(old, state=SlotState.STAGED)
                return table
        raise SlotTransitionError(
            "nothing to roll back to", hint="no bundle on trial and no previous confirmed bundle"
        )

    def boot(self) -> SlotTable:
        """What a (re)boot does: a trial spends one attempt; none left -> bad."""
        trial = self.trial
        table = self
        if trial is not None:
            rec = self.slot(trial)
            if rec.attempts <= 1:
                table = self.with_slot(rec, state=SlotState.BAD, attempts=0)
            else:
                table = self.with_slot(rec, attempts=rec.attempts - 1)
        # An upload interrupted by the reboot left a STAGING slot: the data is
        # partial, so it is simply not staged. It stays STAGING (inactive, never
        # run) until the next upload restarts it; no write needed here.
        return table

    # -- serialisation ---------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "confirmed": self.confirmed,
            "running": self.running,
            "slots": [s.to_json() for s in self.slots],
        }

    @staticmethod
    def empty(count: int = 2) -> SlotTable:
        return SlotTable(tuple(SlotRecord(i) for i in range(count)), None)

    @staticmethod
    def from_json(data: Any, *, subject: str = "slot table") -> SlotTable:
        def bad(why: str) -> SlotStoreError:
            return SlotStoreError(
                f"invalid slot table ({why})",
                subject=subject,
                hint="the device keeps its last good copy; restore or re-provision it",
            )

        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise bad("unknown schema")
        raw_slots = data.get("slots")
        if not isinstance(raw_slots, list) or not 1 <= len(raw_slots) <= 8:
            raise bad("slots missing")
        slots = []
        fields = {"index", "state", "sha256", "length", "bundle_id", "version", "attempts"}
        for i, raw in enumerate(raw_slots):
            if not isinstance(raw, dict) or set(raw) != fields or raw["index"] != i:
                raise bad(f"slot {i} malformed")
            try:
                state = SlotState(raw["state"])
            except ValueError:
                raise bad(f"slot {i} state {raw['state']!r}") from None
            ints = ("length", "version", "attempts")
            if not all(type(raw[k]) is int and raw[k] >= 0 for k in ints):
                raise bad(f"slot {i} numbers")
            if not isinstance(raw["sha256"], str) or not isinstance(raw["bundle_id"], str):
                raise bad(f"slot {i} strings")
            slots.append(
                SlotRecord(
                    i,
                    state,
                    raw["sha256"],
                    raw["length"],
                    raw["bundle_id"][:200],
                    raw["version"],
                    raw["attempts"],
                )
            )
        confirmed = data.get("confirmed")
        if confirmed is not None and (
            type(confirmed) is not int or not 0 <= confirmed < len(slots)
        ):
            raise bad("confirmed index")
        if confirmed is not None and slots[confirmed].state is not SlotState.CONFIRMED:
            raise bad("confirmed slot is not confirmed")
        if sum(s.state is SlotState.TRIAL for s in slots) > 1:
            raise bad("two slots on trial")
        return SlotTable(tuple(slots), confirmed)


class SlotStore:
    """A :class:`SlotTable` kept in ``<dir>/slots.json``; every change is one atomic write.

    The store is the one writer of its file: :meth:`apply` reads, changes and
    persists under one lock, so two threads' changes never overwrite each other
    (the second sees the first's table) and never write the file at once. One
    process per directory is the caller's job (the agent holds a lock file).
    """

    FILE = "slots.json"

    def __init__(self, directory: Path, *, hook: WriteHook | None = None, count: int = 2) -> None:
        self.directory = Path(directory)
        self.path = self.directory / self.FILE
        self.hook = hook
        self.count = count
        self.writes = 0  # completed persistent writes, for tests and the device log
        self._table: SlotTable | None = None
        self._lock = threading.RLock()

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> SlotTable:
        """Read the table (an empty one when none was ever written)."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> SlotTable:
        if self._table is None:
            # First read by this store: temp files of a writer killed mid-write are
            # garbage (the rename never happened), never a table.
            for tmp in stale_temps(self.path):
                with contextlib.suppress(OSError):
                    tmp.unlink()
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_TABLE_BYTES + 1)
        except FileNotFoundError:
            self._table = SlotTable.empty(self.count)
            return self._table
        except OSError as exc:
            raise SlotStoreError(
                f"cannot read slot table: {exc.strerror}", subject=str(self.path)
            ) from exc
        if len(raw) > MAX_TABLE_BYTES:
            raise SlotStoreError("slot table too large", subject=str(self.path))
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SlotStoreError(
                "slot table is not JSON",
                subject=str(self.path),
                hint="it was not written by EdgeConsole; re-provision the device",
            ) from None
        self._table = SlotTable.from_json(data, subject=str(self.path))
        return self._table

    @property
    def table(self) -> SlotTable:
        with self._lock:
            return self._table if self._table is not None else self._load_locked()

    def save(self, table: SlotTable) -> SlotTable:
        with self._lock:
            return self._save_locked(table)

    def _save_locked(self, table: SlotTable) -> SlotTable:
        if table == self._table and self.exists():
            return table  # nothing changed: no write, nothing to lose
        body = json.dumps(table.to_json(), indent=1, sort_keys=True).encode()
        try:
            atomic_write(self.path, body, self.hook)
        except OSError as exc:
            # Disk full, a failing fsync, a read-only mount: the old table is still whole
            # on disk (temp file + rename); say so instead of surfacing a bare OSError.
            raise SlotStoreError(
                f"cannot save slot table: {exc.strerror or exc}",
                subject=str(self.path),
                hint="free space or check the storage; the previous slot state is kept",
            ) from exc
        self._table = table
        self.writes += 1
        return table

    def apply(self, change: Callable[[SlotTable], SlotTable]) -> SlotTable:
        """Compute a transition on the current table and persist it, atomically with
        respect to every other :meth:`apply` (``change`` sees the latest table)."""
        with self._lock:
            return self._save_locked(change(self.table))
