"""Find gateway agents on the LAN: DNS-SD browse for ``_edgeconsole._tcp``."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

SERVICE_TYPE = "_edgeconsole._tcp.local."


@dataclass(frozen=True)
class DiscoveredGateway:
    name: str
    host: str
    port: int
    properties: dict[str, str]

    @property
    def url(self) -> str:
        return f"gateway://{self.host}:{self.port}"


def discover(
    timeout_s: float = 2.0, *, interfaces: list[str] | None = None, want: int | None = None
) -> list[DiscoveredGateway]:
    """Browse for ``timeout_s`` (or until ``want`` gateways answered)."""
    from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

    found: dict[str, DiscoveredGateway] = {}
    enough = threading.Event()

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, 1500)
            if info is None or not info.addresses or info.port is None:
                return
            props: dict[str, str] = {}
            for k, v in (info.properties or {}).items():
                if isinstance(k, bytes) and isinstance(v, bytes):
                    props[k.decode(errors="replace")] = v.decode(errors="replace")
            found[name] = DiscoveredGateway(
                name.removesuffix("." + SERVICE_TYPE),
                socket.inet_ntoa(info.addresses[0]),
                info.port,
                props,
            )
            if want is not None and len(found) >= want:
                enough.set()

        def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            self.add_service(zc, type_, name)

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            found.pop(name, None)

    kw: dict[str, Any] = {"ip_version": IPVersion.V4Only}
    if interfaces:
        kw["interfaces"] = interfaces
    zc = Zeroconf(**kw)
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, Listener())
        enough.wait(timeout_s)
        browser.cancel()
    finally:
        zc.close()
    return sorted(found.values(), key=lambda g: g.name)
