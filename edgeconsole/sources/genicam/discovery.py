"""``edgeconsole cameras``: every industrial camera reachable, and where we looked.

A technician who sees no camera needs to know what was searched: GigE Vision
discovery is a UDP broadcast (port 3956) sent from each IPv4 interface, and a
camera answers only if its address lies in that interface's subnet (routers do
not forward broadcasts; a camera with a link-local 169.254.x.x address or a
factory-default 192.168.x.x sits outside a laptop on 10.x). So the answer lists
the interfaces with their subnets and, when nothing answered, says why a camera
on another subnet stays invisible and what to do about it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
from typing import Any

from edgeconsole.core.errors import SourceOpenError

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B

SUBNET_NOTE = (
    "A GigE Vision camera is found by a broadcast that does not cross routers: it "
    "answers only when its IP address is in the subnet of one of the interfaces above. "
    "A camera on another subnet (a link-local 169.254.x.x address after a failed DHCP, "
    "or a fixed 192.168.x.x from the factory while this computer is on 10.x) stays "
    "invisible. Put this computer's interface on the camera's subnet (or use a "
    "link-local address on that port), or open the camera by its IP address: "
    "aravis://192.168.0.20."
)


def ipv4_interfaces() -> list[dict[str, str]]:
    """Each interface with an IPv4 address: name, address and subnet (CIDR)."""
    out = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            packed = struct.pack("256s", name.encode()[:15])
            try:
                addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)[20:24])
                mask = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, packed)[20:24])
            except OSError:
                continue  # no IPv4 address on this interface
            net = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
            out.append({"name": name, "address": addr, "subnet": str(net)})
    finally:
        sock.close()
    return out


def _aravis_search(cameras: list[dict[str, Any]], searched: list[dict[str, Any]]) -> None:
    from edgeconsole.sources.genicam.aravis_device import list_aravis

    nets = ipv4_interfaces()
    found = list_aravis()
    gev = [d for d in found if d["protocol"] == "GigEVision"]
    u3v = [d for d in found if d["protocol"] == "USB3Vision"]
    searched.append(
        {
            "backend": "aravis",
            "interface": "GigEVision",
            "how": "broadcast discovery (UDP 3956) from each IPv4 interface",
            "interfaces": nets,
            "found": len(gev),
        }
    )
    searched.append(
        {
            "backend": "aravis",
            "interface": "USB3Vision",
            "how": "USB enumeration (needs read/write access to the device node)",
            "found": len(u3v),
        }
    )
    for d in gev + u3v:
        entry: dict[str, Any] = {
            "backend": "aravis",
            "source": f"aravis://{d['id']}",
            "device_id": d["id"],
            "vendor": d["vendor"],
            "model": d["model"],
            "serial": d["serial"],
            "address": d["address"],
            "interface": d["protocol"],
        }
        entry.update(_aravis_format(d))
        cameras.append(entry)


def _aravis_format(d: dict[str, str]) -> dict[str, Any]:
    """Current pixel format and size; reads are allowed even when another program
    controls the camera, so this also says whether it is in use."""
    from edgeconsole.sources.genicam.libs import aravis

    Arv = aravis()
    target = d["address"] if d["protocol"] == "GigEVision" else d["id"]
    try:
        cam = Arv.Camera.new(target)
        out: dict[str, Any] = {
            "pixel_format": cam.get_pixel_format_as_string(),
            "width": int(cam.get_integer("Width")),
            "height": int(cam.get_integer("Height")),
            "in_use": bool(cam.is_gv_device() and not cam.get_device().is_controller()),
            "error": None,
        }
        del cam  # gives the control channel back at once
        return out
    except Exception as exc:
        return {
            "pixel_format": None,
            "width": None,
            "height": None,
            "in_use": None,
            "error": str(getattr(exc, "message", exc))[:200],
        }


def _pylon_search(cameras: list[dict[str, Any]], searched: list[dict[str, Any]]) -> None:
    from edgeconsole.sources.genicam.libs import pylon

    py = pylon()
    factory = py.TlFactory.GetInstance()
    layers = [t.GetDeviceClass() for t in factory.EnumerateTls()]
    devices = list(factory.EnumerateDevices())
    searched.append(
        {
            "backend": "pylon",
            "interface": ", ".join(layers) or "(no transport layer loaded)",
            "how": "pylon device enumeration (its GigE layer broadcasts like Aravis)",
            "emulation": bool(os.environ.get("PYLON_CAMEMU")),
            "found": len(devices),
        }
    )
    for info in devices:
        from edgeconsole.sources.genicam.pylon_device import _address

        entry: dict[str, Any] = {
            "backend": "pylon",
            "source": f"pylon://{info.GetSerialNumber()}",
            "device_id": info.GetSerialNumber(),
            "vendor": info.GetVendorName(),
            "model": info.GetModelName(),
            "serial": info.GetSerialNumber(),
            "address": _address(info),
            "interface": info.GetDeviceClass(),
        }
        entry.update(_pylon_format(py, factory, info))
        cameras.append(entry)


def _pylon_format(py: Any, factory: Any, info: Any) -> dict[str, Any]:
    cam = None
    try:
        cam = py.InstantCamera(factory.CreateDevice(info))
        cam.Open()
        nm = cam.GetNodeMap()
        return {
            "pixel_format": str(nm.GetNode("PixelFormat").GetValue()),
            "width": int(nm.GetNode("Width").GetValue()),
            "height": int(nm.GetNode("Height").GetValue()),
            "in_use": False,
            "error": None,
        }
    except Exception as exc:
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        busy = any(w in text.lower() for w in ("controlled by another", "exclusive", "in use"))
        return {
            "pixel_format": None,
            "width": None,
            "height": None,
            "in_use": True if busy else None,
            "error": text,
        }
    finally:
        if cam is not None:
            try:
                cam.Close()
                cam.DestroyDevice()
            except Exception:
                pass


def discover(
    *, emulators: bool = False, backends: tuple[str, ...] = ("aravis", "pylon")
) -> dict[str, Any]:
    """Search every backend that loads; never raises for a missing library."""
    if emulators and "pylon" in backends:
        from edgeconsole.sources.genicam.libs import enable_pylon_emulation

        enable_pylon_emulation(1)
    cameras: list[dict[str, Any]] = []
    searched: list[dict[str, Any]] = []
    unavailable: list[dict[str, str]] = []
    for name, search in (("aravis", _aravis_search), ("pylon", _pylon_search)):
        if name not in backends:
            continue
        try:
            search(cameras, searched)
        except SourceOpenError as exc:
            unavailable.append({"backend": name, "error": str(exc)})
    notes: list[str] = []
    gev_searched = any(s["interface"] == "GigEVision" for s in searched)
    if not any(c["interface"] == "GigEVision" for c in cameras) and gev_searched:
        notes.append("No GigE Vision camera answered. " + SUBNET_NOTE)
    if "pylon" in backends and not os.environ.get("PYLON_CAMEMU"):
        notes.append("pylon's camera emulation is off; --emulators lists an emulated camera.")
    for u in unavailable:
        notes.append(f"{u['backend']} was not searched: {u['error']}")
    return {"cameras": cameras, "searched": searched, "unavailable": unavailable, "notes": notes}
