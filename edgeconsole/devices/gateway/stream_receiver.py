"""Follow the agent's WebSocket stream: results, JPEG frames, telemetry.

- Liveness: WebSocket pings every ``heartbeat_s``; no pong, or no message at all
  for ``stale_s``, means the link is dead even if TCP did not say so (a half-open
  connection). The receiver then drops it and reconnects with backoff.
- Clock sync: a few ping/pong exchanges give the offset between the agent's and
  the console's monotonic clocks (lowest round trip wins), so each result gets a
  ``network`` stage: from the agent sending it to the console receiving it.
- Bounded: results go into a ring (oldest dropped and counted), frames into a
  newest-wins slot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import DeviceError
from edgeconsole.core.frames import InferenceResult
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.core.parts import PartDecision, decision_from_json
from edgeconsole.devices.gateway.http import normalise_base
from edgeconsole.devices.gateway.wire import result_from_json, unpack_jpeg
from edgeconsole.devices.loop import LoopThread, io_loop

MAX_RESULTS = 1024
MAX_TEXT_MESSAGE = 16 * 1024 * 1024  # a result with its overlay is a few KiB
MAX_PARTS = 256  # part decisions read from one result message


@dataclass
class StreamItem:
    frame_index: int
    camera: int
    result: InferenceResult | None
    model: dict[str, Any] | None
    stages: dict[str, float]  # agent stages plus "network" (and "agent_queue")
    e2e_ms: float  # capture start on the agent to arrival here
    received_ns: int
    error: str | None = None
    #: Per-part models: the parts decided on this frame (the agent's decisions).
    parts: list[PartDecision] = field(default_factory=list)
    line: dict[str, Any] | None = None  # the trigger and the decision path's counters


@dataclass
class StreamFrame:
    frame_index: int
    jpeg: bytes
    received_ns: int
    network_ms: float | None


@dataclass
class StreamStats:
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    results: int = 0
    frames: int = 0
    results_dropped: int = 0
    bytes_in: int = 0
    clock_offset_ns: int | None = None
    clock_rtt_ns: int | None = None
    last_error: str | None = None
    trigger_edges: int = 0  # photo-eye edges the agent forwarded
    bad_parts: int = 0  # part decisions this console could not read (skipped)
    telemetry: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StreamReceiver:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        camera: int = 0,
        frames: bool = True,
        max_fps: float = 15.0,
        heartbeat_s: float = 2.0,
        stale_s: float | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        self.base = normalise_base(base_url)
        self.token = token
        self.camera = camera
        self.frames = frames
        self.max_fps = max_fps
        self.heartbeat_s = heartbeat_s
        self.stale_s = stale_s if stale_s is not None else 3 * heartbeat_s
        self._loop = loop or io_loop()
        self.stats = StreamStats()
        self._lock = threading.Lock()
        self._results: collections.deque[StreamItem] = collections.deque(maxlen=MAX_RESULTS)
        self._frame: StreamFrame | None = None
        self._task: Any = None
        self._stopping = False
        self.changed = threading.Condition(self._lock)

    # -- control -------------------------------------------------------------------
    def start(self) -> StreamReceiver:
        self._stopping = False
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop.loop)
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(Exception):
                self._task.result(5)
            self._task = None

    def take_results(self) -> list[StreamItem]:
        with self._lock:
            out = list(self._results)
            self._results.clear()
            return out

    def take_frame(self) -> StreamFrame | None:
        with self._lock:
            f, self._frame = self._frame, None
            return f

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds (tests, the CLI)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.stats):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True

    # -- the connection loop ----------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._session_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ConnectionError, DeviceError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            with self.changed:
                self.stats.connected = False
                self.changed.notify_all()
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            self.stats.reconnects += 1

    async def _session_once(self) -> None:
        url = (
            self.base.replace("http", "ws", 1) + f"/v2/edgeconsole/stream?camera="
            f"{self.camera}&frames={int(self.frames)}&max_fps={self.max_fps:g}"
        )
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            ws = await session.ws_connect(
                url,
                headers=headers,
                heartbeat=self.heartbeat_s,
                max_msg_size=32 * 1024 * 1024,
                autoping=True,
            )
            try:
                with self.changed:
                    self.stats.connected = True
                    self.stats.connects += 1
                    self.changed.notify_all()
                sync = asyncio.ensure_future(self._sync_clock(ws))
                # A cut link fails its pings; the receive loop reports the cut, so the
                # ping task's own error is read here and not logged as "never retrieved".
                sync.add_done_callback(lambda t: t.cancelled() or t.exception())
                try:
                    await self._receive(ws)
                finally:
                    sync.cancel()
            finally:
                # A half-open link never completes the close handshake: do not wait on it.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 0.5)

    async def _sync_clock(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            for _ in range(5):
                await ws.send_str(json.dumps({"type": "ping", "t0": now_ns()}))
                await asyncio.sleep(0.05)
            await asyncio.sleep(10.0)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.stale_s)
            except TimeoutError:
                raise DeviceError(
                    f"no message from the agent for {self.stale_s:g} s", subject=self.base
                ) from None
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.stats.bytes_in += len(msg.data)
                self._on_text(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.stats.bytes_in += len(msg.data)
                self._on_binary(msg.data)
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.ERROR,
            ):
                raise DeviceError(f"stream closed ({msg.type.name})", subject=self.base)

    def _to_local(self, agent_ns: int) -> int | None:
        off = self.stats.clock_offset_ns
        return None if off is None else agent_ns - off

    def _on_text(self, text: str) -> None:
        received = now_ns()
        try:
            data = loads_bounded(text, max_bytes=MAX_TEXT_MESSAGE, what="stream message")
        except JSONRefused:
            return  # a message this console cannot read is skipped, never fatal
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == "pong" and isinstance(data.get("t0"), int):
            rtt = received - data["t0"]
            if self.stats.clock_rtt_ns is None or rtt <= self.stats.clock_rtt_ns * 1.5:
                offset = int(data["agent_ns"]) - (data["t0"] + rtt // 2)
                if self.stats.clock_rtt_ns is None or rtt < self.stats.clock_rtt_ns:
                    self.stats.clock_rtt_ns = rtt
                self.stats.clock_offset_ns = offset
        elif kind == "telemetry":
            self.stats.telemetry = data
        elif kind == "result":
            self._on_result(data, received)
        elif kind == "trigger":
            self.stats.trigger_edges += 1

    def _on_result(self, data: dict[str, Any], received: int) -> None:
        stages = {k: float(v) for k, v in (data.get("stages") or {}).items()}
        stages["encode"] = float(data.get("encode_ms", 0.0))
        e2e = float(data.get("e2e_ms", 0.0))
        sent = self._to_local(int(data.get("sent_ns", 0)))
        done = self._to_local(int(data.get("done_ns", 0)))
        if sent is not None and done is not None:
            stages["agent_queue"] = round((sent - done) / 1e6, 4)
            stages["network"] = round(max(received - sent, 0) / 1e6, 4)
            start = self._to_local(
                int(data.get("capture_started_ns") or data.get("captured_ns") or 0)
            )
            if start is not None:
                e2e = (received - start) / 1e6
        result = None
        error = data.get("error")
        if data.get("result") is not None:
            try:
                result = result_from_json(data["result"])
            except DeviceError as exc:
                error = str(exc)
        parts: list[PartDecision] = []
        raw_parts = data.get("parts")
        if isinstance(raw_parts, list):
            for obj in raw_parts[:MAX_PARTS]:
                try:
                    parts.append(decision_from_json(obj))
                except ValueError:
                    self.stats.bad_parts += 1
        line = data.get("line")
        item = StreamItem(
            int(data.get("frame_index", 0)),
            int(data.get("camera", 0)),
            result,
            data.get("model"),
            stages,
            round(e2e, 4),
            received,
            error,
            parts,
            line if isinstance(line, dict) else None,
        )
        with self.changed:
            if len(self._results) == self._results.maxlen:
                self.stats.results_dropped += 1
            self._results.append(item)
            self.stats.results += 1
            self.changed.notify_all()

    def _on_binary(self, data: bytes) -> None:
        received = now_ns()
        try:
            header, jpeg = unpack_jpeg(data)
        except DeviceError as exc:
            self.stats.last_error = str(exc)
            return
        sent = self._to_local(int(header.get("sent_ns", 0)))
        net = None if sent is None else round(max(received - sent, 0) / 1e6, 4)
        with self.changed:
            self._frame = StreamFrame(int(header.get("frame_index", 0)), jpeg, received, net)
            self.stats.frames += 1
            self.changed.notify_all()
