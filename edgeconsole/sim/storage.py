"""The virtual device's flash: the slot table and one payload file per slot.

``<data_dir>/slots.json`` is the slot state machine (core.slots); ``slot<N>.bin``
holds the bundle bytes of slot N. A payload is written only while its slot is
STAGING (the inactive slot), and committed (fsync) before the slot becomes
STAGED. Every persistent write passes through the :class:`PowerRail`, which can
cut the power at the Nth one: that is how the power-loss tests reach every
write the device ever makes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from edgeconsole.core.atomic import WRITE_STEPS
from edgeconsole.core.slots import SlotState, SlotStore, SlotTable

MAX_PAYLOAD = 64 * 1024 * 1024


class PowerLoss(BaseException):
    """The simulated supply failed; everything after this point never happened.

    A BaseException so that no ``except Exception`` in the device swallows it.
    """


@dataclass
class PowerRail:
    """Counts persistent writes; ``fail_at`` = N cuts power during write N (1-based).

    ``phase`` picks where in the write the power goes: before anything reached
    the disk, after the temp file but before the rename, or after the rename
    (before the directory sync).
    """

    fail_at: int | None = None
    phase: str = WRITE_STEPS[0]
    writes: int = 0

    def __call__(self, step: str) -> None:
        if step in (WRITE_STEPS[0], "payload-sync"):
            self.writes += 1
        hit = self.fail_at is not None and self.writes == self.fail_at
        if hit and step in (self.phase, "payload-sync"):
            self.fail_at = None  # one cut per plan; the next boot runs normally
            raise PowerLoss(f"power lost at persistent write {self.writes} ({step})")


class DeviceStorage:
    def __init__(self, data_dir: Path, rail: PowerRail | None = None) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rail = rail if rail is not None else PowerRail()
        self.slots = SlotStore(self.dir, hook=self.rail)

    @property
    def table(self) -> SlotTable:
        return self.slots.table

    def payload_path(self, index: int) -> Path:
        return self.dir / f"slot{index}.bin"

    def read_payload(self, index: int) -> bytes:
        try:
            return self.payload_path(index).read_bytes()
        except FileNotFoundError:
            return b""

    def payload_ok(self, index: int) -> bool:
        """The slot's bytes on flash match the hash its record promises."""
        rec = self.table.slot(index)
        if not rec.sha256:
            return False
        data = self.read_payload(index)
        return len(data) == rec.length and hashlib.sha256(data).hexdigest() == rec.sha256

    # -- payload writes (inactive slot only; enforced by the slot table) -------
    def open_staging(self, index: int) -> None:
        with self.payload_path(index).open("wb"):
            pass

    def write_chunk(self, index: int, offset: int, data: bytes) -> None:
        fd = os.open(self.payload_path(index), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    def commit_payload(self, index: int, length: int) -> str:
        """Make the staged bytes durable; return their sha256 (hex)."""
        path = self.payload_path(index)
        self.rail("payload-sync")
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, length)
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    # -- boot --------------------------------------------------------------------
    def boot(self, factory: bytes, factory_id: str) -> SlotTable:
        """Power-on: load the table, spend a trial attempt, make sure a good bundle runs.

        Each step is one atomic write, so a power cut inside boot is itself safe:
        the next boot starts over from whatever reached the disk.
        """
        table = self.slots.load()
        if table.confirmed is None or not self.payload_ok(table.confirmed):
            table = self._restore_fallback(table, factory, factory_id)
        table = self.slots.save(table.boot())
        trial = table.trial
        if trial is not None and not self.payload_ok(trial):
            table = self.slots.save(table.rollback())
        return table

    def _restore_fallback(self, table: SlotTable, factory: bytes, factory_id: str) -> SlotTable:
        # Another confirmed slot with intact bytes is the fallback of choice.
        for rec in table.slots:
            if rec.state is SlotState.CONFIRMED and self.payload_ok(rec.index):
                return self.slots.save(replace(table, confirmed=rec.index))
        # First boot (or both slots lost): install the factory bundle into slot 0,
        # as a device leaves the factory. Slot 0 is neither running nor confirmed now.
        sha = hashlib.sha256(factory).hexdigest()
        fresh = SlotTable.empty(len(table.slots))
        self.slots.save(fresh.begin_staging(0, sha, len(factory)))
        self.open_staging(0)
        self.write_chunk(0, 0, factory)
        self.commit_payload(0, len(factory))
        staged = self.slots.table.finish_staging(0, sha)
        trial = staged.activate(0, attempts=1, bundle_id=factory_id, version=1)
        return self.slots.save(trial.confirm(0))
