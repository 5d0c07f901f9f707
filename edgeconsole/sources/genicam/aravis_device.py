"""GenICam cameras (GigE Vision, USB3 Vision) through Aravis over GObject introspection.

Aravis speaks GVCP/GVSP and U3V itself and runs its stream thread in C; this
module only opens a camera, reads and writes its node map, pops finished buffers
and reads the stream's counters. PyGObject releases the GIL around every call
into Aravis, so a blocking pop does not stall the rest of the program.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

import numpy as np

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import SourceError, SourceOpenError
from edgeconsole.sources._live import Dropped
from edgeconsole.sources.genicam.device import (
    CameraInfo,
    FeatureAccess,
    GrabStatus,
    RawFrame,
    StreamStats,
    frame_gap,
)
from edgeconsole.sources.genicam.features import Kind, NodeFacts, Value
from edgeconsole.sources.genicam.libs import aravis

#: Buffers queued to the stream: enough to ride out a slow consumer for a few frames.
N_BUFFERS = 8

#: Aravis stream counters -> our names (ArvStream "infos", Aravis >= 0.8.11).
_STAT_NAMES = {
    "completed": "n_completed_buffers",
    "dropped_buffers": "n_underruns",
    "missing_packets": "n_missing_packets",
    "resent_packets": "n_resent_packets",
    "resend_requests": "n_resend_requests",
    "received_packets": "n_received_packets",
    "timeouts": "n_timeouts",
}


def _glib_message(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc)


def list_aravis() -> list[dict[str, str]]:
    """Every camera Aravis finds (GigE Vision broadcast discovery on each IPv4 interface,
    USB3 Vision enumeration); takes about a second (the discovery's answer window)."""
    Arv = aravis()
    Arv.update_device_list()
    out = []
    for i in range(Arv.get_n_devices()):
        out.append(
            {
                "id": Arv.get_device_id(i) or "",
                "address": Arv.get_device_address(i) or "",
                "protocol": Arv.get_device_protocol(i) or "",
                "serial": Arv.get_device_serial_nbr(i) or "",
                "vendor": Arv.get_device_vendor(i) or "",
                "model": Arv.get_device_model(i) or "",
                "physical_id": Arv.get_device_physical_id(i) or "",
            }
        )
    return out


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def open_aravis(device_id: str | None) -> AravisDevice:
    """Open ``device_id`` (Aravis device id, serial, MAC or IP address; None: the first).

    A GigE camera is opened by its IP address even when asked by id: Aravis then
    sends its stream to the interface that really routes to the camera, whereas the
    interface that happened to hear the discovery answer may not (a camera bound to
    the loopback answers a broadcast sent from eth0, and its stream would go there).
    """
    Arv = aravis()
    from gi.repository import GLib

    subject = f"aravis://{device_id or ''}"
    wanted = (device_id or "").strip()
    listed_id = wanted
    target = wanted
    if not _is_ipv4(wanted):
        devices = [d for d in list_aravis() if d["protocol"] in ("GigEVision", "USB3Vision")]
        chosen = None
        for d in devices:
            keys = (d["id"], d["serial"], d["address"], d["physical_id"].lower())
            if not wanted or wanted in keys or wanted.lower() in keys:
                chosen = d
                break
        if chosen is None:
            seen = ", ".join(f"{d['id']} ({d['address']})" for d in devices) or "none"
            raise SourceOpenError(
                f"no camera answers as {wanted!r}" if wanted else "no GenICam camera found",
                subject=subject,
                hint=f"cameras found: {seen}; `edgeconsole cameras` says which interfaces were "
                "searched. A GigE Vision camera must be on the same IPv4 subnet as one of this "
                "computer's interfaces (or give its IP address: aravis://192.168.0.20)",
            )
        listed_id = chosen["id"]
        target = chosen["address"] if chosen["protocol"] == "GigEVision" else chosen["id"]
    try:
        camera = Arv.Camera.new(target or None)
    except GLib.Error as exc:
        raise SourceOpenError(
            f"the camera at {target!r} does not answer" if target else "no GenICam camera found",
            subject=subject,
            hint="check it is powered and cabled; `edgeconsole cameras` lists what is reachable "
            f"(Aravis said: {_glib_message(exc)})",
        ) from exc
    if camera is None:
        raise SourceOpenError("no GenICam camera found", subject=subject)
    return AravisDevice(camera, listed_id)


class AravisDevice(FeatureAccess):
    def __init__(self, camera: Any, device_id: str = "") -> None:
        self._Arv = aravis()
        self._cam = camera
        self._dev = camera.get_device()
        self._stream: Any = None
        self._held: Any = None  # the last buffer popped, pushed back by the next grab
        self._lost = threading.Event()
        self._io = threading.Lock()  # node map access from the UI thread vs the grab thread
        self._pixel_format = ""
        self._last_id: int | None = None
        self._closed = False
        self.info = self._identify(device_id)
        if camera.is_gv_device() and not self._dev.is_controller():
            self._cam = self._dev = None
            raise SourceOpenError(
                "the camera is in use by another program (it holds the GigE Vision control "
                "channel)",
                subject=self.info.label,
                hint="close the other viewer or SDK (e.g. pylon Viewer, arv-viewer), or wait "
                "a few seconds for a crashed one's heartbeat to expire, then try again",
            )
        self._lost_handler = self._dev.connect("control-lost", self._on_control_lost)

    # -- identity -----------------------------------------------------------------
    def _identify(self, device_id: str) -> CameraInfo:
        cam = self._cam
        address = ""
        interface = (
            "GigEVision" if cam.is_gv_device() else "USB3Vision" if cam.is_uv_device() else ""
        )
        if cam.is_gv_device():
            try:
                address = self._dev.get_device_address().to_string()
            except Exception:
                address = ""
        return CameraInfo(
            backend="aravis",
            device_id=device_id or cam.get_device_id() or "",
            vendor=cam.get_vendor_name() or "",
            model=cam.get_model_name() or "",
            serial=cam.get_device_serial_number() or "",
            address=address,
            interface=interface,
        )

    def _on_control_lost(self, *_: Any) -> None:
        # Called on Aravis's heartbeat thread: only flag it; the grab thread acts.
        self._lost.set()

    # -- node map -------------------------------------------------------------------
    def _facts(self, node: str) -> NodeFacts | None:
        Arv = self._Arv
        with self._io:
            if self._dev is None:
                return None
            n = self._dev.get_feature(node)
            if n is None or not _safe(n.is_implemented, True):
                return None
            kind: Kind
            if isinstance(n, Arv.GcEnumeration):
                kind = "enumeration"
            elif isinstance(n, Arv.GcCommand):
                kind = "command"
            elif isinstance(n, Arv.GcBoolean):
                kind = "boolean"
            elif isinstance(n, Arv.GcFloat):
                kind = "float"
            elif isinstance(n, Arv.GcInteger):
                kind = "integer"
            elif isinstance(n, Arv.GcString):
                kind = "string"
            else:
                return None
            access = _safe(n.get_actual_access_mode, None)
            available = bool(_safe(n.is_available, True))
            locked = bool(_safe(n.is_locked, False))
            mode = getattr(access, "value_nick", "rw") if access is not None else "rw"
            readable = available and mode in ("ro", "rw")
            writable = available and not locked and mode in ("wo", "rw")
            value: Value | None = None
            lo = hi = inc = None
            unit = ""
            options: tuple[str, ...] = ()
            if kind == "enumeration":
                value = _safe(n.get_string_value, None) if readable else None
                options = tuple(_safe(n.dup_available_string_values, None) or ())
            elif kind in ("integer", "float"):
                value = _safe(n.get_value, None) if readable else None
                lo, hi = _safe(n.get_min, None), _safe(n.get_max, None)
                inc = _safe(n.get_inc, None)
                if kind == "float" and inc is not None and inc < 1e-300:
                    inc = None  # Aravis says DBL_MIN for "no increment"
                unit = _safe(n.get_unit, None) or ""
            elif kind in ("boolean", "string"):
                value = _safe(n.get_value, None) if readable else None
            return NodeFacts(
                node=node,
                kind=kind,
                readable=readable,
                writable=writable,
                value=value,
                minimum=lo,
                maximum=hi,
                increment=inc,
                unit=unit,
                options=options,
                description=_safe(n.get_description, None) or "",
            )

    def _write(self, facts: NodeFacts, value: Value) -> None:
        from gi.repository import GLib

        with self._io:
            if self._dev is None:
                raise Dropped("camera closed")
            n = self._dev.get_feature(facts.node)
            try:
                if facts.kind == "enumeration":
                    n.set_string_value(str(value))
                elif facts.kind in ("integer", "float", "boolean"):
                    n.set_value(value)
                else:
                    n.set_value(str(value))
            except GLib.Error as exc:
                raise RuntimeError(_glib_message(exc)) from exc

    def _run_command(self, facts: NodeFacts) -> None:
        from gi.repository import GLib

        with self._io:
            if self._dev is None:
                raise Dropped("camera closed")
            try:
                self._dev.get_feature(facts.node).execute()
            except GLib.Error as exc:
                raise RuntimeError(_glib_message(exc)) from exc

    # -- acquisition ----------------------------------------------------------------
    def start(self) -> None:
        from gi.repository import GLib

        try:
            with self._io:
                self._pixel_format = self._cam.get_pixel_format_as_string() or ""
                stream = self._cam.create_stream(None, None)
                if stream is None:
                    raise SourceOpenError("the camera offers no stream", subject=self.info.label)
                payload = self._cam.get_payload()
                for _ in range(N_BUFFERS):
                    stream.push_buffer(self._Arv.Buffer.new_allocate(payload))
                self._stream = stream
                self._cam.start_acquisition()
        except GLib.Error as exc:
            raise SourceOpenError(
                f"could not start the acquisition: {_glib_message(exc)}",
                subject=self.info.label,
                hint="check the pixel format and region are valid for this camera",
            ) from exc

    def stop(self) -> None:
        with self._io:
            if self._cam is None:
                return
            try:
                self._cam.stop_acquisition()
            except Exception:
                pass  # a camera that is gone cannot be stopped; closing frees our side

    def grab(self, timeout_s: float) -> RawFrame | None:
        if self._lost.is_set():
            raise Dropped("the camera stopped answering (GigE Vision control lost)")
        stream = self._stream
        if stream is None:
            raise Dropped("camera closed")
        held, self._held = self._held, None
        if held is not None:
            stream.push_buffer(held)
        buf = stream.timeout_pop_buffer(max(1, int(timeout_s * 1e6)))
        arrived = now_ns()
        if buf is None:
            if self._lost.is_set():
                raise Dropped("the camera stopped answering (GigE Vision control lost)")
            return None
        try:
            return self._to_raw(buf, arrived)
        finally:
            # The image was copied out (get_data): the buffer goes back to the stream
            # at the next grab, so handing this frame on does not wait for the push.
            if not self._closed:
                self._held = buf

    def _to_raw(self, buf: Any, arrived: int) -> RawFrame:
        Arv = self._Arv
        status = buf.get_status()
        frame_id = int(buf.get_frame_id())
        delta = StreamStats()
        delta.missing_frames = frame_gap(self._last_id, frame_id)
        if frame_id:
            self._last_id = frame_id
        camera_ns = int(buf.get_timestamp()) or None
        if status != Arv.BufferStatus.SUCCESS:
            nick = getattr(status, "value_nick", str(status))
            partial = nick in ("missing-packets", "wrong-packet-id", "timeout")
            grab: GrabStatus = "incomplete" if partial else "failed"
            if partial:
                delta.incomplete = 1
            return RawFrame(
                data=np.empty((0, 0), np.uint8),
                pixel_format=self._pixel_format,
                frame_id=frame_id,
                camera_ns=camera_ns,
                arrived_ns=arrived,
                status=grab,
                detail="" if nick == "missing-packets" else nick,
                stats_delta=delta,
            )
        width, height = int(buf.get_image_width()), int(buf.get_image_height())
        data = buf.get_data()
        code = int(buf.get_image_pixel_format())
        bits = (code >> 16) & 0xFF
        try:
            array = _shape(np.frombuffer(data, np.uint8), width, height, bits)
        except ValueError as exc:  # a payload shorter than its own header says
            delta.incomplete = 1
            return RawFrame(
                data=np.empty((0, 0), np.uint8),
                pixel_format=self._pixel_format,
                frame_id=frame_id,
                camera_ns=camera_ns,
                arrived_ns=arrived,
                status="incomplete",
                detail=str(exc),
                stats_delta=delta,
            )
        return RawFrame(
            data=array,
            pixel_format=self._pixel_format,
            frame_id=frame_id,
            camera_ns=camera_ns,
            arrived_ns=arrived,
            stats_delta=delta,
        )

    def alive(self) -> bool:
        if self._lost.is_set():
            return False
        from gi.repository import GLib

        with self._io:
            if self._dev is None:
                return False
            try:
                self._dev.get_integer_feature_value("Width")
                return True
            except GLib.Error:
                return False

    def latch_timestamp(self) -> int | None:
        from gi.repository import GLib

        with self._io:
            dev = self._dev
            if dev is None:
                return None
            for latch, value in (
                ("TimestampLatch", "TimestampLatchValue"),
                ("GevTimestampControlLatch", "GevTimestampValue"),
            ):
                if dev.get_feature(latch) is None or dev.get_feature(value) is None:
                    continue
                try:
                    dev.execute_command(latch)
                    ticks = int(dev.get_integer_feature_value(value))
                    freq_node = dev.get_feature("GevTimestampTickFrequency")
                    freq = int(freq_node.get_value()) if freq_node is not None else 0
                except GLib.Error:
                    return None
                return ticks if freq <= 0 else int(ticks * 1_000_000_000 // freq)
        return None

    def stats(self) -> StreamStats:
        out = StreamStats()
        stream = self._stream
        if stream is None:
            return out
        for ours, theirs in _STAT_NAMES.items():
            try:
                setattr(out, ours, int(stream.get_info_uint64_by_name(theirs)))
            except Exception:
                continue
        try:
            out.dropped_buffers += int(stream.get_info_uint64_by_name("n_aborted"))
        except Exception:
            pass
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        with self._io:
            if self._dev is not None:
                try:
                    self._dev.disconnect(self._lost_handler)
                except Exception:
                    pass
            # Dropping the last references frees the stream thread and gives back
            # the control channel (Aravis does it in the objects' finalisers).
            self._stream = self._held = None
            self._cam = None
            self._dev = None


def _safe(fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception:
        return default


def _shape(flat: np.ndarray, width: int, height: int, bits: int) -> np.ndarray:
    """Give a buffer's bytes their image shape; refuse a payload of the wrong size."""
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    if bits == 8:
        need, shape, dtype = width * height, (height, width), np.dtype(np.uint8)
    elif bits == 16:
        need, shape, dtype = width * height * 2, (height, width), np.dtype(np.uint16)
    elif bits == 24:
        need, shape, dtype = width * height * 3, (height, width, 3), np.dtype(np.uint8)
    elif bits == 32:
        need, shape, dtype = width * height * 4, (height, width, 4), np.dtype(np.uint8)
    else:
        raise SourceError(
            f"a pixel format with {bits} bits per pixel is not supported",
            hint="set PixelFormat to Mono8, Mono16, a Bayer 8/16 format or RGB8",
        )
    if flat.size < need:
        raise ValueError(f"buffer holds {flat.size} bytes, the image needs {need}")
    return flat[:need].view(dtype).reshape(shape)
