"""The agent's cameras and the WebSocket stream of what its model sees.

One :class:`CameraRunner` thread per camera reads frames, runs the running
slot's model and publishes a small JSON result (stage latencies included) and,
when someone watches, a JPEG of the frame. Each WebSocket client has its own
bounded queue of results and a newest-wins slot for JPEGs: a JPEG is sent only
when the previous one has left (``send_bytes`` waits for the socket to drain),
so frames go at the rate the link carries and the skipped ones are counted.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from aiohttp import WSMsgType, web

from edgeconsole.agent.line import CameraLine
from edgeconsole.agent.ports import ModelHandle, OpenSource
from edgeconsole.agent.wire import result_to_json, stage_times_ms
from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import EdgeConsoleError, SourceDisconnected
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.core.parts import PartDecision, TriggerEvent
from edgeconsole.inference.line.triggers import TriggerConfig

RESULT_QUEUE = 256
TELEMETRY_S = 1.0
MAX_CONTROL_MESSAGE = 64 * 1024  # a ping from the console is a few dozen bytes


class _Client:
    def __init__(self, want_frames: bool, max_fps: float, quality: int) -> None:
        self.want_frames = want_frames
        self.min_interval_ns = int(1e9 / max_fps) if max_fps > 0 else 0
        self.quality = quality
        self.results: collections.deque[dict[str, Any]] = collections.deque(maxlen=RESULT_QUEUE)
        self.jpeg: tuple[dict[str, Any], bytes] | None = None
        self.wake = asyncio.Event()
        self.results_dropped = 0
        self.jpeg_skipped = 0
        self.last_jpeg_ns = 0


class CameraRunner:
    """Reads one camera on its own thread and fans results out to stream clients."""

    def __init__(
        self,
        index: int,
        spec: str,
        open_source: OpenSource,
        model: Callable[[], ModelHandle | None],
        loop: asyncio.AbstractEventLoop,
        *,
        max_jpeg_fps: float = 15.0,
        trigger: TriggerConfig | None = None,
    ) -> None:
        self.index = index
        self.trigger = trigger or TriggerConfig()
        # Per-part models: the camera's line (agent/line.py), rebuilt when the model changes.
        self._line: CameraLine | None = None
        self._line_model: Any = None
        #: Called with every part the line decides or counts missed (camera thread), and
        #: with an external edge that decided nothing: the PLC gate answers from them.
        self.decision_taps: list[Callable[[PartDecision], None]] = []
        self.unmatched_taps: list[Callable[[TriggerEvent, str], None]] = []
        self.spec = spec
        self._open_source = open_source
        self._model = model
        self._loop = loop
        self.max_jpeg_fps = max_jpeg_fps
        self.clients: set[_Client] = set()
        self._clients_lock = threading.Lock()
        self._stop = threading.Event()
        self._source: Any = None
        self.frames = 0
        self.errors = 0
        self.last_error: str | None = None
        self.state = "starting"
        self._fps_window: collections.deque[int] = collections.deque(maxlen=60)
        self._thread = threading.Thread(target=self._run, name=f"agent-camera-{index}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.close()
        self._thread.join(5)

    @property
    def fps(self) -> float:
        w = self._fps_window
        if len(w) < 2:
            return 0.0
        return round((len(w) - 1) / ((w[-1] - w[0]) / 1e9), 2)

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.spec,
            "state": self.state,
            "frames": self.frames,
            "fps": self.fps,
            "errors": self.errors,
            "last_error": self.last_error,
            "watchers": len(self.clients),
            # An industrial camera's own view (aravis://, pylon://): link counters, clock.
            "camera": _camera_stats(self._source),
        }

    # -- the camera thread -----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._source = self._open_source(self.spec)
                self._source.open()
                self.state = "running"
                self._loop_frames()
                if not self._stop.is_set():
                    self.state = "ended"
                    return
            except SourceDisconnected as exc:
                self.state, self.last_error = "reconnecting", str(exc)
            except EdgeConsoleError as exc:
                self.state, self.last_error = "error", str(exc)
                self.errors += 1
            finally:
                if self._source is not None:
                    self._source.close()
            self._stop.wait(1.0)

    def _loop_frames(self) -> None:
        while not self._stop.is_set():
            frame = self._source.read()
            if frame is None:
                return
            self.frames += 1
            self._fps_window.append(frame.captured_ns)
            model = self._model()
            msg: dict[str, Any] = {
                "type": "result",
                "camera": self.index,
                "frame_index": frame.index,
                "width": int(frame.image.shape[1]),
                "height": int(frame.image.shape[0]),
                "model": None,
                "result": None,
            }
            if model is not None:
                try:
                    line = self._line_for(model)
                    if line is not None:
                        result, step = line.step(frame)
                        msg["parts"] = [d.to_json() for d in step.decisions]
                        msg["line"] = line.describe()
                    else:
                        result = model.process(frame)
                    msg["model"] = {"name": model.name, "version": model.version}
                    msg["result"] = result_to_json(result)
                except EdgeConsoleError as exc:
                    self.errors += 1
                    self.last_error = str(exc)
                    msg["error"] = str(exc)
            done_ns = now_ns()
            stages = stage_times_ms(frame.stamps, frame.capture_started_ns, frame.captured_ns)
            start = frame.capture_started_ns or frame.captured_ns
            msg["stages"] = stages
            msg["e2e_ms"] = round((done_ns - start) / 1e6, 4)
            msg["captured_ns"] = frame.captured_ns
            msg["capture_started_ns"] = frame.capture_started_ns
            msg["done_ns"] = done_ns
            self._publish(msg, frame.image)

    def _line_for(self, model: ModelHandle) -> CameraLine | None:
        inspector = getattr(model, "inspector", None)
        if inspector is None:
            self._line = self._line_model = None
            return None
        if self._line is None or self._line_model is not model:
            budget = getattr(getattr(model, "spec", None), "latency_budget_ms", None)
            line = CameraLine(inspector, self.trigger, budget)
            line.line.on_decision = self._decided
            line.line.on_unmatched = self._unmatched
            self._line = line
            self._line_model = model
        return self._line

    def _decided(self, decision: PartDecision) -> None:
        for tap in self.decision_taps:
            tap(decision)

    def _unmatched(self, event: TriggerEvent, why: str) -> None:
        for tap in self.unmatched_taps:
            tap(event, why)

    def line_ready(self) -> bool:
        """A per-part line runs on this camera and has judged a frame (any thread)."""
        return self._line is not None and self.state == "running" and self.frames > 0

    def send_edge(self, event: TriggerEvent) -> bool:
        """``external_edge``, saying whether a per-part line took it."""
        if self._line is None:
            return False
        self.external_edge(event)
        return True

    def external_edge(self, event: TriggerEvent) -> None:
        """A photo-eye edge (any thread): to this camera's line, and out on the stream."""
        line = self._line
        if line is not None:
            line.line.trigger(event)
        with self._clients_lock:
            clients = list(self.clients)
        if clients:
            msg = {
                "type": "trigger",
                "camera": self.index,
                "seq": event.seq,
                "agent_ns": event.stamp_ns,
                "source": event.source,
            }
            self._loop.call_soon_threadsafe(self._deliver, clients, msg, None, [])

    def _publish(self, msg: dict[str, Any], image: np.ndarray) -> None:
        with self._clients_lock:
            clients = list(self.clients)
        if not clients:
            return
        jpeg: bytes | None = None
        encode_ms = 0.0
        now = now_ns()
        wanting = [
            c
            for c in clients
            if c.want_frames and c.jpeg is None and now - c.last_jpeg_ns >= c.min_interval_ns
        ]
        for c in clients:
            if c.want_frames and c not in wanting:
                c.jpeg_skipped += 1
        if wanting:
            t0 = now_ns()
            ok, buf = cv2.imencode(
                ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, max(c.quality for c in wanting)]
            )
            encode_ms = (now_ns() - t0) / 1e6
            if ok:
                jpeg = buf.tobytes()
        msg["encode_ms"] = round(encode_ms, 4)
        self._loop.call_soon_threadsafe(self._deliver, clients, msg, jpeg, wanting)

    def _deliver(
        self,
        clients: list[_Client],
        msg: dict[str, Any],
        jpeg: bytes | None,
        wanting: list[_Client],
    ) -> None:
        for c in clients:
            if len(c.results) == c.results.maxlen:
                c.results_dropped += 1
            c.results.append(msg)
            if jpeg is not None and c in wanting:
                if c.jpeg is not None:
                    c.jpeg_skipped += 1
                c.jpeg = (
                    {
                        "frame_index": msg["frame_index"],
                        "camera": self.index,
                        "captured_ns": msg["captured_ns"],
                    },
                    jpeg,
                )
            c.wake.set()

    def add(self, client: _Client) -> None:
        with self._clients_lock:
            self.clients.add(client)

    def remove(self, client: _Client) -> None:
        with self._clients_lock:
            self.clients.discard(client)


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)
    except (OSError, ValueError, IndexError):
        return None


def _camera_stats(source: Any) -> dict[str, Any] | None:
    stats = getattr(source, "camera_stats", None)
    return stats() if stats is not None else None


def telemetry(camera: CameraRunner, client: _Client, started: float) -> dict[str, Any]:
    cpu = os.times()
    return {
        "type": "telemetry",
        "agent_ns": now_ns(),
        "uptime_s": round(time.time() - started, 1),
        "camera": camera.describe(),
        "cpu_s": round(cpu.user + cpu.system, 2),
        "loadavg": list(os.getloadavg()),
        "rss_mb": _rss_mb(),
        "results_dropped": client.results_dropped,
        "jpeg_skipped": client.jpeg_skipped,
    }


def pack_jpeg(header: dict[str, Any], jpeg: bytes) -> bytes:
    """Binary frame message: 4-byte big-endian JSON header length, header, JPEG."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(head)) + head + jpeg


async def stream_handler(
    request: web.Request, cameras: list[CameraRunner], started: float, heartbeat_s: float
) -> web.WebSocketResponse:
    from edgeconsole.agent.errors import BadRequest, NotFound

    q = request.query
    try:
        index = int(q.get("camera", "0"))
        max_fps = float(q.get("max_fps", "15"))
        quality = int(q.get("quality", "80"))
    except ValueError:
        raise BadRequest("camera, max_fps and quality must be numbers") from None
    if not 0 <= index < len(cameras):
        raise NotFound(f"no camera {index}", hint=f"the agent has {len(cameras)} camera(s)")
    if not 1 <= quality <= 100 or not 0 <= max_fps <= 240:
        raise BadRequest("quality must be 1..100 and max_fps 0..240")
    camera = cameras[index]
    ws = web.WebSocketResponse(heartbeat=heartbeat_s, max_msg_size=64 * 1024)
    await ws.prepare(request)
    client = _Client(q.get("frames", "1") != "0", max_fps, quality)
    camera.add(client)
    await ws.send_str(
        json.dumps({"type": "hello", "agent_ns": now_ns(), "camera": camera.describe()})
    )

    async def reader() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = loads_bounded(msg.data, max_bytes=MAX_CONTROL_MESSAGE)
            except JSONRefused:
                continue  # not a control message of ours: ignored
            if isinstance(data, dict) and data.get("type") == "ping":
                # Clock sync: the console estimates the offset between the two clocks.
                await ws.send_str(
                    json.dumps({"type": "pong", "t0": data.get("t0"), "agent_ns": now_ns()})
                )

    read_task = asyncio.create_task(reader())
    next_tel = time.monotonic()
    try:
        while not ws.closed and not read_task.done():
            try:
                await asyncio.wait_for(client.wake.wait(), TELEMETRY_S / 2)
            except TimeoutError:
                pass
            client.wake.clear()
            while client.results:
                msg = client.results.popleft()
                await ws.send_str(json.dumps({**msg, "sent_ns": now_ns()}, separators=(",", ":")))
            if client.jpeg is not None:
                header, jpeg = client.jpeg
                client.jpeg = None
                client.last_jpeg_ns = now_ns()
                header["sent_ns"] = client.last_jpeg_ns
                await ws.send_bytes(pack_jpeg(header, jpeg))
            if time.monotonic() >= next_tel:
                next_tel = time.monotonic() + TELEMETRY_S
                await ws.send_str(json.dumps(telemetry(camera, client, started)))
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        camera.remove(client)
        read_task.cancel()
        await ws.close()
    return ws
