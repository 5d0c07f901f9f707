"""Basler cameras through pypylon (GigE, USB3, and pylon's own camera emulation).

pypylon releases the GIL inside ``RetrieveResult``, so the grab thread blocks
without holding up the rest of the program. Grab results are copied out and
released at once: pylon's buffer pool is small and a held result starves it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import SourceOpenError
from edgeconsole.sources._live import Dropped
from edgeconsole.sources.genicam.device import (
    CameraInfo,
    FeatureAccess,
    RawFrame,
    StreamStats,
    frame_gap,
)
from edgeconsole.sources.genicam.features import Kind, NodeFacts, Value
from edgeconsole.sources.genicam.libs import (
    PYLON_EMULATOR_PREFIX,
    enable_pylon_emulation,
    genicam,
    pylon,
)

N_BUFFERS = 8

#: Stream grabber counters (GigE and emulator names) -> ours.
_STATS = {
    "completed": "Statistic_Total_Buffer_Count",
    "incomplete": "Statistic_Failed_Buffer_Count",
    "dropped_buffers": "Statistic_Buffer_Underrun_Count",
    "received_packets": "Statistic_Total_Packet_Count",
    "missing_packets": "Statistic_Failed_Packet_Count",
    "resend_requests": "Statistic_Resend_Request_Count",
    "resent_packets": "Statistic_Resend_Packet_Count",
}

#: Words pylon uses when another program holds the camera.
_IN_USE = ("controlled by another", "exclusive", "in use", "already open", "access denied")


def _emulators_wanted(serial: str | None) -> int:
    if not serial or not serial.startswith(PYLON_EMULATOR_PREFIX):
        return 0
    tail = serial[len(PYLON_EMULATOR_PREFIX) :]
    return int(tail) + 1 if tail.isdigit() and len(tail) <= 3 else 1


def list_pylon_devices() -> list[Any]:
    py = pylon()
    return list(py.TlFactory.GetInstance().EnumerateDevices())


def open_pylon(serial: str | None) -> PylonDevice:
    """Open the camera with this serial number (or user name; None: the first one).
    An emulator serial (0815-NNNN) switches pylon's emulation on if it is not yet."""
    wanted = _emulators_wanted(serial)
    if wanted:
        enable_pylon_emulation(wanted)
    py = pylon()
    subject = f"pylon://{serial or ''}"
    devices = list_pylon_devices()
    chosen = None
    for info in devices:
        if not serial or serial in (info.GetSerialNumber(), info.GetUserDefinedName()):
            chosen = info
            break
    if chosen is None:
        seen = ", ".join(f"{d.GetModelName()} {d.GetSerialNumber()}" for d in devices) or "none"
        raise SourceOpenError(
            f"no Basler camera with serial {serial!r}" if serial else "no Basler camera found",
            subject=subject,
            hint=f"cameras pylon sees: {seen}; `edgeconsole cameras` lists every interface "
            "searched (emulated cameras: serial 0815-0000, or PYLON_CAMEMU=1)",
        )
    try:
        camera = py.InstantCamera(py.TlFactory.GetInstance().CreateDevice(chosen))
        camera.Open()
    except Exception as exc:
        text = str(exc)
        if any(w in text.lower() for w in _IN_USE):
            raise SourceOpenError(
                "the camera is in use by another program",
                subject=f"{chosen.GetModelName()} ({chosen.GetSerialNumber()})",
                hint="close the other viewer or SDK (pylon Viewer, another EdgeConsole), "
                "then try again",
            ) from exc
        raise SourceOpenError(
            f"the camera could not be opened: {text.splitlines()[0][:200] if text else exc!r}",
            subject=subject,
        ) from exc
    return PylonDevice(camera, chosen)


class PylonDevice(FeatureAccess):
    def __init__(self, camera: Any, device_info: Any) -> None:
        self._py = pylon()
        self._gc = genicam()
        self._cam = camera
        self._io = threading.Lock()
        self._pixel_format = ""
        self._tick_hz = 0
        self._last_id: int | None = None
        self._closed = False
        self.info = CameraInfo(
            backend="pylon",
            device_id=device_info.GetSerialNumber(),
            vendor=device_info.GetVendorName(),
            model=device_info.GetModelName(),
            serial=device_info.GetSerialNumber(),
            address=_address(device_info),
            interface=device_info.GetDeviceClass(),
        )

    # -- node map -------------------------------------------------------------------
    def _node(self, name: str) -> Any:
        cam = self._cam
        if cam is None:
            return None
        try:
            return cam.GetNodeMap().GetNode(name)
        except Exception:
            return None

    def _facts(self, node: str) -> NodeFacts | None:
        gc = self._gc
        with self._io:
            n = self._node(node)
            if n is None or not gc.IsImplemented(n):
                return None
            kind = _kind(n, gc)
            if kind is None:
                return None
            readable, writable = bool(gc.IsReadable(n)), bool(gc.IsWritable(n))
            value: Value | None = None
            lo = hi = inc = None
            unit = ""
            options: tuple[str, ...] = ()
            try:
                if kind == "enumeration":
                    value = n.GetValue() if readable else None
                    options = tuple(n.GetSymbolics())
                elif kind in ("integer", "float"):
                    value = n.GetValue() if readable else None
                    if readable or writable:
                        lo, hi = n.GetMin(), n.GetMax()
                    if kind == "integer":
                        inc = n.GetInc() if readable or writable else None
                    elif n.HasInc():
                        inc = n.GetInc()
                    unit = n.GetUnit() if hasattr(n, "GetUnit") else ""
                elif kind in ("boolean", "string"):
                    value = n.GetValue() if readable else None
            except Exception:
                readable = False
            description = ""
            try:
                description = n.GetNode().GetDescription()
            except Exception:
                pass
            return NodeFacts(
                node=node,
                kind=kind,
                readable=readable,
                writable=writable,
                value=value,
                minimum=lo,
                maximum=hi,
                increment=inc,
                unit=unit or "",
                options=options,
                description=description,
            )

    def _write(self, facts: NodeFacts, value: Value) -> None:
        with self._io:
            n = self._node(facts.node)
            if n is None:
                raise Dropped("camera closed")
            n.SetValue(value)

    def _run_command(self, facts: NodeFacts) -> None:
        with self._io:
            n = self._node(facts.node)
            if n is None:
                raise Dropped("camera closed")
            n.Execute()

    # -- acquisition ----------------------------------------------------------------
    def start(self) -> None:
        py = self._py
        with self._io:
            cam = self._cam
            try:
                self._pixel_format = str(cam.GetNodeMap().GetNode("PixelFormat").GetValue())
                freq = self._node("GevTimestampTickFrequency")
                if freq is not None and self._gc.IsReadable(freq):
                    self._tick_hz = int(freq.GetValue())
                cam.MaxNumBuffer.Value = N_BUFFERS
                cam.StartGrabbing(py.GrabStrategy_OneByOne)
            except Exception as exc:
                raise SourceOpenError(
                    f"could not start the acquisition: {str(exc).splitlines()[0][:200]}",
                    subject=self.info.label,
                    hint="check the pixel format and region are valid for this camera",
                ) from exc

    def stop(self) -> None:
        with self._io:
            cam = self._cam
            if cam is None:
                return
            try:
                cam.StopGrabbing()
            except Exception:
                pass

    def grab(self, timeout_s: float) -> RawFrame | None:
        py = self._py
        cam = self._cam
        if cam is None:
            raise Dropped("camera closed")
        try:
            result = cam.RetrieveResult(max(1, int(timeout_s * 1000)), py.TimeoutHandling_Return)
        except Exception as exc:  # pylon raises when the device is removed mid-grab
            if cam.IsCameraDeviceRemoved():
                raise Dropped("the camera was removed") from exc
            raise Dropped(f"grab failed: {str(exc).splitlines()[0][:200]}") from exc
        arrived = now_ns()
        if not result or not result.IsValid():
            if cam.IsCameraDeviceRemoved():
                raise Dropped("the camera was removed")
            return None
        try:
            return self._to_raw(result, arrived)
        finally:
            result.Release()

    def _to_raw(self, result: Any, arrived: int) -> RawFrame:
        frame_id = int(result.GetBlockID())
        delta = StreamStats()
        delta.missing_frames = frame_gap(self._last_id, frame_id)
        if frame_id:
            self._last_id = frame_id
        ticks = int(result.GetTimeStamp())
        camera_ns = None
        if ticks:
            camera_ns = ticks if self._tick_hz <= 0 else ticks * 1_000_000_000 // self._tick_hz
        if not result.GrabSucceeded():
            delta.incomplete = 1
            return RawFrame(
                data=np.empty((0, 0), np.uint8),
                pixel_format=self._pixel_format,
                frame_id=frame_id,
                camera_ns=camera_ns,
                arrived_ns=arrived,
                status="incomplete",
                detail=f"{result.GetErrorDescription()} (0x{result.GetErrorCode() & 0xFFFFFFFF:x})",
                stats_delta=delta,
            )
        return RawFrame(
            data=result.GetArray(),
            pixel_format=self._pixel_format,
            frame_id=frame_id,
            camera_ns=camera_ns,
            arrived_ns=arrived,
            stats_delta=delta,
        )

    def alive(self) -> bool:
        cam = self._cam
        if cam is None:
            return False
        with self._io:
            try:
                if cam.IsCameraDeviceRemoved():
                    return False
                cam.GetNodeMap().GetNode("Width").GetValue()
                return True
            except Exception:
                return False

    def latch_timestamp(self) -> int | None:
        with self._io:
            for latch, value in (
                ("TimestampLatch", "TimestampLatchValue"),
                ("GevTimestampControlLatch", "GevTimestampValue"),
            ):
                cmd, val = self._node(latch), self._node(value)
                if cmd is None or val is None or not self._gc.IsWritable(cmd):
                    continue
                try:
                    cmd.Execute()
                    ticks = int(val.GetValue())
                except Exception:
                    return None
                return ticks if self._tick_hz <= 0 else ticks * 1_000_000_000 // self._tick_hz
        return None

    def stats(self) -> StreamStats:
        out = StreamStats()
        cam = self._cam
        if cam is None:
            return out
        try:
            nm = cam.GetStreamGrabberNodeMap()
        except Exception:
            return out
        for ours, theirs in _STATS.items():
            try:
                node = nm.GetNode(theirs)
                if node is not None and self._gc.IsReadable(node):
                    setattr(out, ours, int(node.GetValue()))
            except Exception:
                continue
        # pylon counts every buffer, failed ones too, as "total".
        out.completed = max(0, out.completed - out.incomplete)
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        with self._io:
            cam, self._cam = self._cam, None
            if cam is not None:
                try:
                    cam.Close()
                    cam.DestroyDevice()
                except Exception:
                    pass


def _kind(n: Any, gc: Any) -> Kind | None:
    for iface, kind in (
        ("IEnumeration", "enumeration"),
        ("ICommand", "command"),
        ("IBoolean", "boolean"),
        ("IFloat", "float"),
        ("IInteger", "integer"),
        ("IString", "string"),
    ):
        cls = getattr(gc, iface, None)
        if cls is not None and isinstance(n, cls):
            return kind  # type: ignore[return-value]
    return None


def _address(info: Any) -> str:
    for getter in ("GetIpAddress", "GetAddress", "GetDeviceGUID"):
        fn = getattr(info, getter, None)
        if fn is None:
            continue
        try:
            value = str(fn())
        except Exception:
            continue
        if value and value.upper() != "N/A":
            return value
    return ""
