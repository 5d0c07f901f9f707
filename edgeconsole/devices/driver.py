"""``TargetDriver``: what the session holds of each connected target, whatever its kind.

One driver per kind: a serial link (EdgeConsole firmware, or stock MCUmgr behind the
same link: ``devices.serial.driver``), an EdgeConsole gateway agent and any Open
Inference Protocol server (``devices.gateway.driver``). The session's TargetManager
keeps threads, jobs and views over ``dict[url, TargetDriver]`` and never asks which
kind it holds; :func:`open_driver` is the one place that does, by the URL's kind.

A driver's methods block (they talk to the target): the manager calls them on its
worker threads, one exchange at a time per target.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import (
    FlashJobBase,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
    Target,
    TargetInfo,
)

if TYPE_CHECKING:
    from edgeconsole.devices.loop import LoopThread


@dataclass(frozen=True)
class Reading:
    """What a driver read of its target: who it is, its slots and (network targets)
    its health, server, models and cameras."""

    info: TargetInfo
    slots: tuple[SlotInfo, ...] = ()
    health: str = ""
    server: str = ""
    models: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for the audit log: "name serial fw X (health)"."""
        i = self.info
        fw = f"fw {i.firmware}" if i.firmware and not self.server else self.server
        return " ".join(p for p in (i.name, i.serial, fw) if p) + (
            f" ({self.health})" if self.health else ""
        )


class TargetDriver(Protocol):
    """One target of any kind, as the session drives it."""

    url: str
    kind: str

    @property
    def has_slots(self) -> bool:
        """Bundles can be flashed, confirmed and rolled back (a view's ``smp``)."""
        ...

    #: How often ``watch`` is asked while connected, and ``back`` while it is gone.
    watch_every_s: float
    #: Whether ``watch`` is worth asking while connected (a serial link reports its own
    #: loss: ``link_lost``; a network target is asked).
    watch_while_up: bool
    #: Whether the target streams telemetry text (``drain``).
    streams_telemetry: bool
    #: The token a network target was connected with (None for a serial link).
    token: str | None

    def connect(self) -> Reading:
        """Open the link and read the target; raises EdgeConsoleError when it cannot."""
        ...

    def read(self) -> Reading:
        """Read identity, slots and health again (Refresh, and after every job)."""
        ...

    def watch(self) -> Reading | None:
        """While connected: a quick look (a network target's identity and health: the
        reading's ``info``, ``health`` and ``cameras``; its slots and models come from
        ``read``). Raises DeviceError when the target is gone (AuthError when a token
        is refused); None when there is nothing to look at."""
        ...

    def link_lost(self) -> str | None:
        """Why the link went away, when it did and is still down (a serial link is
        told at once by its transport); None otherwise."""
        ...

    def back(self) -> bool:
        """While disconnected: does the target look back (its port is there, it
        answers)? Cheap; ``reconnect`` follows when it does."""
        ...

    def reconnect(self) -> Reading:
        """Open the link again and read the target; raises when it is not back yet."""
        ...

    @property
    def disconnects(self) -> int: ...

    def refuse(self, job: str) -> None:
        """Raise DeviceError when this target cannot do ``job`` (flash, confirm,
        rollback) at all, before any job starts."""
        ...

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"],
        progress: ProgressFn,
        cancel: threading.Event,
    ) -> FlashJobBase: ...

    def slots(self) -> list[SlotInfo]: ...

    def self_test(self, slot: int | None = None) -> SelfTest: ...

    def confirm(self, slot: int | None = None) -> list[SlotInfo]: ...

    def rollback(self) -> list[SlotInfo]: ...

    def drain(self) -> list[tuple[int, bytes]]:
        """Telemetry text received since the last call (stamped chunks)."""
        ...

    def close(self) -> None: ...

    @staticmethod
    def open_device(
        ref: TargetRef,
        *,
        token: str | None = None,
        token_file: Path | str | None = None,
        timeout_s: float = 10.0,
        probe: bool = True,
    ) -> Target:
        """A bare connected ``Target`` of this kind, on its own loop (no session)."""
        ...


class SlotsOnDevice:
    """A driver whose slots, health check, confirm and rollback are its device's own
    (the ``Target`` protocol every device class keeps)."""

    @property
    def device(self) -> Target:
        raise NotImplementedError

    def slots(self) -> list[SlotInfo]:
        return self.device.slots()

    def self_test(self, slot: int | None = None) -> SelfTest:
        return self.device.self_test(slot)

    def confirm(self, slot: int | None = None) -> list[SlotInfo]:
        return self.device.confirm(slot)

    def rollback(self) -> list[SlotInfo]:
        return self.device.rollback()


@dataclass
class DriverHooks:
    """What a driver tells the session as it happens (called on the I/O thread: quick)."""

    #: The link went away (the session marks it and the pump decides).
    on_lost: Callable[[str], None] | None = None
    #: Each chunk of text as it arrives, stamped (photo-eye edges, device events).
    on_text: Callable[[int, bytes], None] | None = None


def open_driver(
    url: str,
    *,
    io: LoopThread,
    token: str | None = None,
    token_file: Path | None = None,
    remember: bool = True,
    hooks: DriverHooks | None = None,
) -> TargetDriver:
    """The driver for a target URL (not yet connected: ``connect`` does that).

    ``io`` is the session's one I/O loop (a ``devices.loop.LoopThread``); gateways take
    ``token`` or ``token_file`` (else the token remembered for that host:port) and
    remember a token that worked unless ``remember`` is False."""
    ref = drivable(url)
    hooks = hooks or DriverHooks()
    cls = _driver_class(ref)
    if ref.kind == "serial":
        return cls(ref, io, hooks)  # type: ignore[call-arg]
    return cls(ref, io, token=token, token_file=token_file, remember=remember)  # type: ignore[call-arg]


def _driver_class(ref: TargetRef) -> type[TargetDriver]:
    """The one place that asks a target's kind: which driver drives it."""
    if ref.kind == "serial":
        from edgeconsole.devices.serial.driver import SerialDriver

        return SerialDriver
    if ref.kind in ("gateway", "oip"):
        from edgeconsole.devices.gateway.driver import GatewayDriver, OipDriver

        return GatewayDriver if ref.kind == "gateway" else OipDriver
    raise AssertionError(ref.kind)


def open_device(
    url: str,
    *,
    token: str | None = None,
    token_file: Path | str | None = None,
    timeout_s: float = 10.0,
    probe: bool = True,
) -> Target:
    """A connected bare ``Target`` for one-shot work without the session (the command
    line's ``devices`` commands): opened by the driver of the URL's kind, which says
    how (a gateway's token given, from a file, or remembered; remembered once it worked)."""
    ref = drivable(url)
    opener = _driver_class(ref).open_device
    target: Target = opener(
        ref, token=token, token_file=token_file, timeout_s=timeout_s, probe=probe
    )
    return target


def drivable(url: str) -> TargetRef:
    """The parsed URL of a target a driver exists for (ConfigError for ``local://`` and
    ``sim://``, which the session runs itself, and for anything malformed)."""
    ref = TargetRef.parse(url)
    if ref.kind not in ("serial", "gateway", "oip"):
        raise ConfigError(
            f"{ref.kind}:// is not a device", subject=ref.url, hint="connect a device or gateway"
        )
    return ref
