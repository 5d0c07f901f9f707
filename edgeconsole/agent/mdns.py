"""mDNS (DNS-SD) advertisement of the agent as ``_edgeconsole._tcp``."""

from __future__ import annotations

import socket
from typing import Any

SERVICE_TYPE = "_edgeconsole._tcp.local."


class Advertiser:
    def __init__(self, name: str, host: str, port: int, properties: dict[str, str]) -> None:
        from zeroconf import IPVersion, ServiceInfo, Zeroconf

        address = host if host not in ("0.0.0.0", "") else _primary_address()
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address)],
            port=port,
            properties=properties,
            server=f"{socket.gethostname()}.local.",
        )
        interfaces: Any = [address] if address.startswith("127.") else None
        self.zc = (
            Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            if interfaces
            else Zeroconf(ip_version=IPVersion.V4Only)
        )
        self.zc.register_service(self.info, allow_name_change=True)

    def close(self) -> None:
        try:
            self.zc.unregister_service(self.info)
        finally:
            self.zc.close()


def _primary_address() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing interface
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()
