"""The one contract every target keeps: a serial device, a gateway, the laptop.

A target holds bundles in slots (DESIGN section 5) and can report who it is,
take a bundle into its inactive slot, put it on trial, run its health check,
confirm it or roll back. Implementations: ``devices.serial.SerialTarget``;
gateways and the laptop implement the same protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class TargetInfo:
    url: str
    name: str
    serial: str = ""
    hw_id: str = ""
    firmware: str = ""
    buf_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "name": self.name,
            "serial": self.serial,
            "hw_id": self.hw_id,
            "firmware": self.firmware,
            "buf_size": self.buf_size,
            **self.extra,
        }


@dataclass(frozen=True)
class SlotInfo:
    index: int
    state: str  # core.slots.SlotState value
    bundle_id: str = ""
    version: int = 0
    sha256: str = ""
    length: int = 0
    attempts: int = 0
    running: bool = False
    confirmed: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SelfTest:
    slot: int
    passed: bool
    detail: str
    rolled_back: bool = False
    max_error: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class FlashProgress:
    """One progress report of an upload (for a bar with KB/s and ETA)."""

    sent: int
    total: int
    bytes_per_s: float
    eta_s: float | None
    resumes: int = 0
    phase: str = "upload"  # upload, verify, trial, selftest, confirm, rollback, done

    @property
    def fraction(self) -> float:
        return self.sent / self.total if self.total else 1.0


ProgressFn = Callable[[FlashProgress], None]


@dataclass(frozen=True)
class Payload:
    """Verified bundle bytes and the manifest facts the target is told about.

    Built by the caller (CLI or session) after ``bundles`` verified the file:
    devices never reads bundles itself.
    """

    data: bytes
    sha256: str
    bundle_id: str
    version: int
    # The person chose to go below the installed version (``--allow-downgrade``);
    # a gateway is told so, and journals it.
    allow_downgrade: bool = False


@dataclass
class FlashResult:
    slot: int
    confirmed: bool
    self_test: SelfTest | None
    slots: list[SlotInfo]
    seconds: float
    bytes_per_s: float
    resumes: int = 0
    notes: list[str] = field(default_factory=list)


class FlashJobBase:
    """The one flash flow: checks and leftovers (``prepare``) → upload → trial, health
    check and (``mode="confirm"``) confirm. Each kind of target fills in the steps.

    ``mode="trial"`` stops after a passing health check and leaves the bundle on
    trial for the person to confirm later; ``"confirm"`` confirms it. ``cancel``, when
    set, stops an upload at once (a target whose upload can be interrupted honours it;
    the others stop at their next progress report, which raises Cancelled).
    """

    #: Only upload progress is passed on as it comes (the rest is reported by phase).
    forward_phases: frozenset[str] | None = None

    def __init__(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.payload = payload
        self.mode = mode
        self.progress = progress
        self.cancel = cancel
        self.resumes = 0
        self.notes: list[str] = []

    def run(self) -> FlashResult:
        t0 = time.perf_counter()
        slot = self.prepare()
        seconds_upload = 0.0
        if slot is None:
            t_up = time.perf_counter()
            slot = self.upload()
            seconds_upload = time.perf_counter() - t_up
        test, slots, confirmed = self.finish(slot)
        self._report("done")
        return FlashResult(
            slot,
            confirmed,
            test,
            slots,
            time.perf_counter() - t0,
            len(self.payload.data) / seconds_upload if seconds_upload > 0 else 0.0,
            self.resumes,
            self.notes,
        )

    # -- the steps each kind fills in ------------------------------------------------
    def prepare(self) -> int | None:
        """Checks before the upload, and what an interrupted flash left: the slot that
        already holds this payload (nothing to upload), or None to upload."""
        return None

    def upload(self) -> int:
        """Put the payload into the inactive slot (progress through ``_count``)."""
        raise NotImplementedError

    def finish(self, slot: int) -> tuple[SelfTest | None, list[SlotInfo], bool]:
        """Trial, health check, confirm: (the health check, the slots after, confirmed)."""
        raise NotImplementedError

    # -- progress --------------------------------------------------------------------
    def _report(self, phase: str) -> None:
        if self.progress is not None:
            n = len(self.payload.data)
            self.progress(FlashProgress(n, n, 0.0, 0.0, self.resumes, phase))

    def _count(self, p: FlashProgress) -> None:
        self.resumes = p.resumes
        if self.progress is not None and (
            self.forward_phases is None or p.phase in self.forward_phases
        ):
            self.progress(p)


@runtime_checkable
class Target(Protocol):
    url: str

    def info(self) -> TargetInfo: ...

    def slots(self) -> list[SlotInfo]: ...

    def upload(self, payload: Payload, progress: ProgressFn | None = None) -> int:
        """Put the bytes into the inactive slot; returns that slot's index."""
        ...

    def activate(self, slot: int, payload: Payload | None = None) -> list[SlotInfo]: ...

    def self_test(self, slot: int | None = None) -> SelfTest: ...

    def confirm(self, slot: int | None = None) -> list[SlotInfo]: ...

    def rollback(self) -> list[SlotInfo]: ...

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> FlashJobBase:
        """This kind's flash (``FlashJobBase`` with its upload hooks) onto this target."""
        ...

    def close(self) -> None: ...
