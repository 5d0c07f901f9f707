"""One-shot device work without the window: the command line's ``devices``, ``slots``,
``flash``, ``confirm``, ``rollback`` and ``telemetry`` open a target here, use it and
close it. Each kind is opened by its driver (``devices.driver.open_device``); the
window's connected targets are the TargetManager's, not these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconsole.core.errors import ConfigError, DeviceError
from edgeconsole.devices.driver import open_device
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import Target
from edgeconsole.sources.telemetry_lines import TelemetryParser

__all__ = ["TelemetryParser", "open_serial", "open_slots_target", "serial_ports"]

#: A serial exchange waits this long for the device's answer.
SERIAL_TIMEOUT_S = 2.5


def serial_ports() -> list[dict[str, Any]]:
    """The serial ports on this machine, as ``edgeconsole devices`` lists them."""
    from edgeconsole.devices.serial.ports import discover

    return [p.to_json() for p in discover()]


def open_serial(url: str, *, probe: bool = True, timeout_s: float = SERIAL_TIMEOUT_S) -> Any:
    """A connected serial link (EdgeConsole firmware, stock MCUmgr or a text device)."""
    return open_device(url, probe=probe, timeout_s=timeout_s)


def open_slots_target(url: str, token_file: Path | None = None) -> Target:
    """A connected target with bundle slots: a gateway (``token_file``, else the token
    remembered for it) or a serial device running EdgeConsole's firmware; a stock
    MCUmgr device is refused with the commands that do serve it."""
    if TargetRef.parse(url).kind == "gateway":
        return open_device(url, token_file=token_file)
    if token_file is not None:
        raise ConfigError("--token-file is only for gateway:// targets", subject=url)
    t = open_serial(url)
    target: Target = t
    if t.smp and not t.app_group:
        t.close()
        raise DeviceError(
            "a stock Zephyr/MCUmgr device (no EdgeConsole firmware): it has MCUboot images, "
            "not bundle slots",
            subject=url,
            hint="use `edgeconsole image list|upload|test|confirm`, `fs`, `stats`, `shell`",
        )
    return target
