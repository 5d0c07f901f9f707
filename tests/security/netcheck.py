"""Every socket a process holds, read from /proc (independent of the process itself):
its fds' socket inodes matched against /proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6}."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SocketEntry:
    proto: str
    local: Addr
    local_port: int
    remote: Addr
    remote_port: int
    state: str  # hex TCP state: 0A = LISTEN, 01 = ESTABLISHED


def _addr(hexaddr: str) -> tuple[Addr, int]:
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip: Addr = ipaddress.IPv4Address(raw[::-1])
    else:  # four little-endian 32-bit words
        ip = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip, int(port, 16)


def socket_inodes(pid: int) -> set[int]:
    out = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir() if fd_dir.exists() else []:
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def inet_sockets(pid: int) -> list[SocketEntry]:
    """The process's IP sockets (unix and netlink sockets are not network egress)."""
    inodes = socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        path = Path(f"/proc/{pid}/net/{proto}")
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or int(f[9]) not in inodes:
                continue
            (la, lp), (ra, rp) = _addr(f[1]), _addr(f[2])
            found.append(SocketEntry(proto, la, lp, ra, rp, f[3]))
    return found


def listening_sockets(pid: int) -> list[tuple[Addr, int]]:
    return [
        (s.local, s.local_port)
        for s in inet_sockets(pid)
        if s.proto.startswith("tcp") and s.state == "0A"
    ]


def non_loopback(entries: list[SocketEntry]) -> list[SocketEntry]:
    """Sockets bound to or talking to anything but loopback (unset 0.0.0.0 remote is fine)."""
    bad = []
    for s in entries:
        local_ok = s.local.is_loopback
        remote_ok = s.remote.is_loopback or (s.remote.is_unspecified and s.remote_port == 0)
        if not (local_ok and remote_ok):
            bad.append(s)
    return bad
