"""Finding serial ports, naming them, and explaining why one cannot be opened.

Targets are written ``serial:///dev/ttyACM0?baud=115200`` or just a path. A USB
device is also remembered by VID/PID/serial number, so after an unplug it is
found again even when the kernel gives it another ``ttyACM`` number.
"""

from __future__ import annotations

import errno
import grp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from edgeconsole.core.errors import DeviceError
from edgeconsole.devices.ref import SerialAddress


@dataclass(frozen=True)
class PortInfo:
    device: str
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    location: str | None = None

    @property
    def usb_id(self) -> str:
        if self.vid is None or self.pid is None:
            return ""
        return f"{self.vid:04x}:{self.pid:04x}"

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "description": self.description,
            "usb_id": self.usb_id,
            "serial_number": self.serial_number or "",
            "manufacturer": self.manufacturer or "",
            "location": self.location or "",
        }


def discover() -> list[PortInfo]:
    """Serial ports the OS knows (USB CDC, FTDI, ...), with USB identity when present."""
    out = []
    for p in list_ports.comports():
        out.append(
            PortInfo(
                device=p.device,
                description=p.description if p.description != "n/a" else "",
                vid=p.vid,
                pid=p.pid,
                serial_number=p.serial_number,
                manufacturer=p.manufacturer,
                location=p.location,
            )
        )
    return sorted(out, key=lambda p: p.device)


def refind(address: SerialAddress) -> str | None:
    """The port path of the device now: same VID/PID/serial number, or the same path."""
    if address.vid is not None:
        for p in discover():
            if (p.vid, p.pid) == (address.vid, address.pid) and (
                address.serial_number is None or p.serial_number == address.serial_number
            ):
                return p.device
        return None
    return address.path if os.path.exists(address.path) else None


def _holders(path: str) -> list[str]:
    """Processes holding ``path`` open (from /proc), as ``name (pid N)``."""
    try:
        target = os.path.realpath(path)
    except OSError:
        return []
    found = []
    proc = Path("/proc")
    for pid_dir in proc.iterdir() if proc.is_dir() else []:
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) == target:
                    name = (pid_dir / "comm").read_text().strip()
                    found.append(f"{name} (pid {pid_dir.name})")
                    break
        except OSError:
            continue
    return found


def explain_open_error(path: str, exc: BaseException) -> DeviceError:
    """Turn a failed open into a sentence with the fix."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EBUSY) or "exclusively lock" in text:
        holders = _holders(path)
        who = ", ".join(holders) if holders else "another program"
        return DeviceError(
            f"port is already open in {who}",
            subject=path,
            hint="close that program (serial monitor, smpmgr, another EdgeConsole) and retry",
        )
    if code == errno.EACCES or "Permission denied" in text:
        user = os.environ.get("USER", "your user")
        try:
            group = grp.getgrgid(os.stat(path).st_gid).gr_name
        except (OSError, KeyError):
            group = "dialout"
        return DeviceError(
            "permission denied",
            subject=path,
            hint=f"add {user} to the {group} group: sudo usermod -aG {group} {user}, "
            "then log out and back in",
        )
    if code == errno.ENOENT or "No such file" in text:
        return DeviceError(
            "no such port",
            subject=path,
            hint="check the cable; `edgeconsole devices` lists the ports present",
        )
    return DeviceError(f"cannot open port: {text}", subject=path)
