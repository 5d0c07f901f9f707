"""MCAP recorder: frames (JPEG, foxglove.CompressedImage), overlays (foxglove.ImageAnnotations),
results, latency, telemetry and events as JSON channels, plus metadata and the bundle manifest.

The session calls ``on_result`` / ``write_*`` from its threads; they only enqueue
(bounded: when the writer falls behind, frames are dropped and counted, never
the caller blocked). The writer thread encodes JPEG, writes small chunks and
closes a chunk at least every ``chunk_seconds`` on an unbuffered file, so a
crash (kill -9, power pulled after the periodic fsync) loses at most about a second.
The recorder is independent of the device link: a reconnect is just an event
on /events and the recording carries on.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
from mcap.writer import CompressionType, Writer

from edgeconsole import __version__
from edgeconsole.core.errors import JournalError
from edgeconsole.core.frames import (
    Frame,
    InferenceResult,
    LatencySample,
    OverlayBanner,
    OverlayBox,
)
from edgeconsole.core.parts import PartDecision
from edgeconsole.journal.codec import latency_to_dict, result_to_dict
from edgeconsole.journal.mcap_schemas import CHANNELS, schema_bytes
from edgeconsole.journal.timebase import mono_to_wall_ns, ns_to_iso, wall_ns

PROFILE = "edgeconsole"

#: Overlay roles -> RGBA (0..1), the same meaning the window's palette gives them.
ROLE_COLORS: dict[str, tuple[float, float, float, float]] = {
    "ok": (0.20, 0.80, 0.30, 1.0),
    "fail": (0.95, 0.20, 0.20, 1.0),
    "warn": (1.00, 0.75, 0.10, 1.0),
    "info": (0.25, 0.60, 1.00, 1.0),
    "text": (1.00, 1.00, 1.00, 1.0),
}


@dataclass
class RecordingMeta:
    """Stamped on the recording as an MCAP metadata record named ``edgeconsole.recording``."""

    site: str = ""
    technician: str = ""
    target: str = ""
    target_identity: str = ""
    hardware_id: str = ""
    bundle_id: str = ""
    bundle_version: str = ""
    bundle_hash: str = ""
    model: str = ""
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, str]:
        d = {k: str(v) for k, v in self.__dict__.items() if k != "extra"}
        d.update({str(k): str(v) for k, v in self.extra.items()})
        d["app_version"] = __version__
        d["started"] = ns_to_iso(wall_ns())
        return d


@dataclass
class RecorderStats:
    frames: int = 0
    dropped: int = 0
    messages: int = 0
    chunks: int = 0
    bytes: int = 0
    encode_ms: float = 0.0


def _stamp(ns: int) -> dict[str, int]:
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def _color(role: str) -> dict[str, float]:
    r, g, b, a = ROLE_COLORS.get(role, ROLE_COLORS["info"])
    return {"r": r, "g": g, "b": b, "a": a}


def annotations_for(result: InferenceResult, t_ns: int) -> dict[str, Any]:
    """The overlay primitives as foxglove.ImageAnnotations (what Foxglove draws on /camera)."""
    points: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    banner_y = 20.0
    for item in result.overlay:
        if isinstance(item, OverlayBox):
            if item.polygon:
                pts = [{"x": float(x), "y": float(y)} for x, y in item.polygon]
            else:
                x0, y0, x1, y1 = item.box
                pts = [
                    {"x": x0, "y": y0},
                    {"x": x1, "y": y0},
                    {"x": x1, "y": y1},
                    {"x": x0, "y": y1},
                ]
            points.append(
                {
                    "timestamp": _stamp(t_ns),
                    "type": 2,  # LINE_LOOP
                    "points": pts,
                    "outline_color": _color(item.role),
                    "outline_colors": [],
                    "fill_color": {"r": 0.0, "g": 0.0, "b": 0.0, "a": 0.0},
                    "thickness": 4.0 if item.thick else 2.0,
                }
            )
            if item.label:
                texts.append(
                    {
                        "timestamp": _stamp(t_ns),
                        "position": {"x": float(item.box[0]), "y": float(item.box[1]) - 4.0},
                        "text": item.label,
                        "font_size": 14.0,
                        "text_color": _color("text"),
                        "background_color": _color(item.role),
                    }
                )
        elif isinstance(item, OverlayBanner):
            texts.append(
                {
                    "timestamp": _stamp(t_ns),
                    "position": {"x": 10.0, "y": banner_y},
                    "text": item.text,
                    "font_size": 18.0,
                    "text_color": _color("text"),
                    "background_color": _color(item.role),
                }
            )
            banner_y += 24.0
    return {"circles": [], "points": points, "texts": texts}


class _DirectFile:
    """Unbuffered file for the MCAP writer: each write reaches the OS completely, at once.

    (The writer wraps a raw file in its own BufferedWriter, which would hold the
    tail of the recording in memory until ``finish``; this object is not raw.)
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pos = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self._pos += n
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        os.close(self._fd)


class McapRecorderSink:
    """Write one recording. ``start`` opens the file; ``stop`` finishes it (summary, fsync)."""

    def __init__(
        self,
        path: Path,
        meta: RecordingMeta | None = None,
        *,
        manifest: bytes | None = None,
        chunk_bytes: int = 256 * 1024,
        chunk_seconds: float = 0.5,
        fsync_seconds: float = 1.0,
        jpeg_quality: int = 85,
        queue_items: int = 256,
        frame_queue: int = 60,
    ) -> None:
        self.path = Path(path)
        self.meta = meta or RecordingMeta()
        self.manifest = manifest
        self.chunk_bytes = chunk_bytes
        self.chunk_seconds = chunk_seconds
        self.fsync_seconds = fsync_seconds
        self.jpeg_quality = jpeg_quality
        self.stats = RecorderStats()
        self._q: queue.Queue[tuple[str, int, Any]] = queue.Queue(queue_items)
        self._frames_queued = 0
        self._frame_queue = frame_queue
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._file: _DirectFile | None = None
        self._writer: Writer | None = None
        self._channels: dict[str, int] = {}
        self.started_ns = 0
        self.ended_ns: int | None = None

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        if self._thread is not None:
            raise JournalError("recording already started", subject=str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Unbuffered: every record the writer emits reaches the OS at once (kill -9 safe).
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError as exc:
            raise JournalError(
                "recording file already exists", subject=str(self.path), hint="choose another name"
            ) from exc
        except OSError as exc:
            raise JournalError(
                f"cannot create recording: {exc.strerror}", subject=str(self.path)
            ) from exc
        fh = _DirectFile(fd)
        self._file = fh
        w = Writer(
            fh,  # type: ignore[arg-type]
            chunk_size=self.chunk_bytes,
            compression=CompressionType.ZSTD,
        )
        w.start(profile=PROFILE, library=f"edgeconsole {__version__}")
        for topic, (name, schema) in CHANNELS.items():
            sid = w.register_schema(name=name, encoding="jsonschema", data=schema_bytes(schema))
            self._channels[topic] = w.register_channel(
                topic=topic, message_encoding="json", schema_id=sid
            )
        self.started_ns = wall_ns()
        w.add_metadata("edgeconsole.recording", self.meta.to_record())
        if self.manifest is not None:
            w.add_attachment(
                create_time=self.started_ns,
                log_time=self.started_ns,
                name="manifest.json",
                media_type="application/json",
                data=self.manifest,
            )
        self._writer = w
        self._thread = threading.Thread(target=self._run, name="edgeconsole-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> RecorderStats:
        """Drain the queue, write the summary, fsync. Safe to call twice."""
        if self._thread is None:
            return self.stats
        self._q.put(("stop", 0, None))
        self._thread.join(timeout)
        self._thread = None
        if self._error is not None:
            raise JournalError(
                f"recording failed: {self._error}",
                subject=str(self.path),
                hint="the file holds everything up to the last complete chunk",
            )
        return self.stats

    @property
    def recording(self) -> bool:
        return self._thread is not None

    # ---------------------------------------------------------------- callers
    def on_result(
        self, frame: Frame, result: InferenceResult | None, sample: LatencySample | None
    ) -> None:
        """Same shape as the pipeline's ``on_result`` callback: frame, result and latency."""
        self.write_frame(frame, result, sample)

    def write_frame(
        self,
        frame: Frame,
        result: InferenceResult | None = None,
        sample: LatencySample | None = None,
    ) -> bool:
        """Queue one frame (+ its result and latency). False when dropped (writer behind)."""
        t = mono_to_wall_ns(frame.captured_ns)
        with self._lock:
            if self._frames_queued >= self._frame_queue:
                self.stats.dropped += 1
                return False
            self._frames_queued += 1
        try:
            self._q.put_nowait(("frame", t, (frame, result, sample)))
        except queue.Full:
            with self._lock:
                self._frames_queued -= 1
                self.stats.dropped += 1
            return False
        return True

    def write_telemetry(
        self, target: str, values: dict[str, float], ts_ns: int | None = None
    ) -> None:
        self._put_small("/telemetry", ts_ns, {"target": target, "values": values})

    def write_event(
        self,
        level: str,
        text: str,
        kind: str = "status",
        target: str = "",
        ts_ns: int | None = None,
    ) -> None:
        self._put_small(
            "/events", ts_ns, {"level": level, "kind": kind, "target": target, "text": text}
        )

    def write_part(self, decision: PartDecision) -> None:
        """One physical part's decision (or miss), stamped when it was decided."""
        self._put_small("/parts", mono_to_wall_ns(decision.decided_ns), decision.to_json())

    def write_camera_frame(self, frame: Frame, ts_ns: int | None = None) -> None:
        """An industrial camera's own stamp of ``frame`` (its id and clock)."""
        cam = frame.camera
        if cam is None:
            return
        self._put_small(
            "/camera_frames",
            ts_ns,
            {
                "frame_index": frame.index,
                "frame_id": cam.frame_id,
                "camera_ns": cam.camera_ns,
                "clock": cam.clock,
                "exposure_ns": frame.capture_started_ns,
                "captured_ns": frame.captured_ns,
                "trigger_seq": cam.trigger_seq,
                "trigger_ns": cam.trigger_ns,
            },
        )

    def write_camera_stats(self, stats: dict[str, Any], ts_ns: int | None = None) -> None:
        self._put_small("/camera_stats", ts_ns, stats)

    def write_plc_part(self, plc: str, record: dict[str, Any], ts_ns: int | None = None) -> None:
        """One PLC trigger and what became of it (a handshake record's ``to_json``)."""
        self._put_small("/plc/parts", ts_ns, {"plc": plc, **record})

    def write_plc_signal(self, plc: str, signal: str, value: int, ts_ns: int | None = None) -> None:
        """An edge of a handshake signal (the timeline of the PLC view)."""
        self._put_small("/plc/signals", ts_ns, {"plc": plc, "signal": signal, "value": value})

    def write_latency(self, sample: LatencySample, ts_ns: int | None = None) -> None:
        self._put_small("/latency", ts_ns, latency_to_dict(sample))

    def _put_small(self, topic: str, ts_ns: int | None, payload: dict[str, Any]) -> None:
        try:
            self._q.put_nowait((topic, ts_ns if ts_ns is not None else wall_ns(), payload))
        except queue.Full:
            with self._lock:
                self.stats.dropped += 1

    # ----------------------------------------------------------------- writer
    def _run(self) -> None:
        w = self._writer
        fh = self._file
        assert w is not None and fh is not None
        last_chunk = time.monotonic()
        last_sync = last_chunk
        try:
            while True:
                try:
                    kind, t, payload = self._q.get(timeout=self.chunk_seconds / 2)
                except queue.Empty:
                    kind = ""
                if kind == "stop":
                    break
                if kind == "frame":
                    self._write_frame(w, t, *payload)
                elif kind:
                    self._add(w, kind, t, payload)
                now = time.monotonic()
                if now - last_chunk >= self.chunk_seconds:
                    w.flush()  # closes the open chunk: everything so far is readable
                    self.stats.chunks += 1
                    last_chunk = now
                if now - last_sync >= self.fsync_seconds:
                    os.fsync(fh.fileno())
                    last_sync = now
            w.finish()
            os.fsync(fh.fileno())
        except Exception as exc:  # disk full, I/O error: keep what is on disk, report
            self._error = exc
        finally:
            self.ended_ns = wall_ns()
            try:
                self.stats.bytes = fh.tell()
                fh.close()
            except OSError:
                pass

    def _add(self, w: Writer, topic: str, t: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        w.add_message(channel_id=self._channels[topic], log_time=t, publish_time=t, data=data)
        self.stats.messages += 1

    def _write_frame(
        self,
        w: Writer,
        t: int,
        frame: Frame,
        result: InferenceResult | None,
        sample: LatencySample | None,
    ) -> None:
        with self._lock:
            self._frames_queued -= 1
        t0 = time.perf_counter()
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        self.stats.encode_ms += (time.perf_counter() - t0) * 1e3
        if not ok:
            raise JournalError("JPEG encoding failed", subject=frame.source)
        self._add(
            w,
            "/camera",
            t,
            {
                "timestamp": _stamp(t),
                "frame_id": f"{frame.source}#{frame.index}",
                "data": base64.b64encode(jpeg.tobytes()).decode("ascii"),
                "format": "jpeg",
            },
        )
        self.stats.frames += 1
        if result is not None:
            self._add(w, "/results", t, result_to_dict(result))
            self._add(w, "/overlay", t, annotations_for(result, t))
        if sample is not None:
            self._add(w, "/latency", t, latency_to_dict(sample))
