"""One way to read and write handshake signals, whatever the PLC speaks.

``PlcLink`` is what the handshake, the watcher and the tests use; ``open_link``
picks the Modbus TCP (pymodbus) or OPC UA (asyncua) implementation from the
URL and the map. Values are plain ints (on/off signals are 0 or 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.plc.plcmap import PlcMap

URL_FORMS = "modbus://HOST:PORT (Modbus TCP) or opc.tcp://HOST:PORT[/PATH] (OPC UA)"


class PlcLink(Protocol):
    url: str

    async def connect(self) -> None:
        """Open the link and check the PLC answers for the map's first input."""

    async def read(self, names: Sequence[str]) -> dict[str, int]: ...

    async def write(self, values: Mapping[str, int], *, last: str | None = None) -> None:
        """Write ``values``; the request carrying ``last`` goes after all others."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PlcUrl:
    scheme: str  # "modbus" | "opc.tcp"
    host: str
    port: int
    path: str = ""

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"


def parse_plc_url(url: str) -> PlcUrl:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{why}: {url[:200]!r}", subject="PLC address", hint=f"use {URL_FORMS}")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(f"malformed address ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("modbus", "modbus+tcp", "opc.tcp"):
        raise bad(f"unknown scheme {parts.scheme!r}")
    if not parts.hostname:
        raise bad("no host")
    if scheme == "opc.tcp":
        return PlcUrl("opc.tcp", parts.hostname, port or 4840, parts.path or "")
    if parts.path not in ("", "/") or parts.query:
        raise bad("a Modbus address has no path or query (the unit id is in the map)")
    return PlcUrl("modbus", parts.hostname, port or 502)


def open_link(url: str, plc_map: PlcMap, *, timeout_s: float = 1.0) -> PlcLink:
    """The link for ``url``; refuses a URL whose protocol the map does not describe."""
    parsed = parse_plc_url(url)
    want = "opcua" if parsed.scheme == "opc.tcp" else "modbus"
    if want != plc_map.protocol:
        raise ConfigError(
            f"the address speaks {want} but the map describes {plc_map.protocol} signals",
            subject=f"PLC map {plc_map.source}",
            hint="use a map written for this PLC's protocol",
        )
    if want == "modbus":
        from edgeconsole.devices.plc.modbus_link import ModbusLink

        return ModbusLink(parsed, plc_map, timeout_s=timeout_s)
    from edgeconsole.devices.plc.opcua_link import OpcUaLink

    return OpcUaLink(parsed, plc_map, timeout_s=timeout_s)
