"""A gateway's live stream as the session's live pipeline (no Qt here).

:class:`GatewayStreamRunner` follows a ``StreamReceiver`` (the agent's WebSocket:
results with the agent's stage times, JPEG frames, telemetry) and feeds the same
outputs the local pipeline feeds: a :class:`LatencySample` per result (the
agent's stages plus ``network``, the hop from the agent sending to this console
receiving, on clocks aligned by the receiver), and for each JPEG the decoded
frame with the result the agent computed for that frame (its overlay primitives
included). ``Session.start_local`` runs it for a stream spec
``gateway://HOST:PORT?camera=N`` so the live view and the latency panel show a
gateway exactly as they show the laptop.

The runner is a ``Runner`` (session/runner.py) like the local ones: each result is
an output with its sample (counted once), each JPEG an output with the frame and
the result it belongs to (shown, not counted again); ``source.state`` is
"open"/"reconnecting" while the link is down.

:class:`StreamMonitor` runs the same runner into a latency collector: the demo's
summary of a gateway (results per second, network p50/p99) without a window.

:class:`RemoteOipRunner` is the other way round, for any OIP v2 server (Triton,
KServe, MLServer): the laptop's frames are preprocessed here, inferred on the
server over OIP, and decoded here; the ``infer`` stage is the remote round trip.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.core.frames import OPTIONAL_STAGES, STAGES, Frame, InferenceResult, LatencySample
from edgeconsole.inference.latency import LatencyStats

if TYPE_CHECKING:  # the window paints before numpy loads
    import numpy as np

    from edgeconsole.inference.remote import RemoteInference
from edgeconsole.session.runner import CallbackSink, RunnerBase, RunnerOutput, RunnerSink

#: Results kept to pair with the JPEG of the same frame (JPEGs follow their result).
PAIR_WINDOW = 64
#: How long opening a stream waits for the first connection.
CONNECT_TIMEOUT_S = 10.0
#: JPEG frame rate asked of the agent: enough to look live, light on the link.
DEFAULT_MAX_FPS = 15.0
_KEEP = frozenset((*STAGES, *OPTIONAL_STAGES))


# ------------------------------------------------------------------------ specs
def stream_spec(url: str, camera: int = 0) -> str:
    """The source spec of a gateway camera: ``gateway://HOST:PORT?camera=N``."""
    return f"{url.split('?', 1)[0].rstrip('/')}?camera={int(camera)}"


def is_stream_spec(spec: str) -> bool:
    return spec.strip().lower().startswith("gateway://")


def parse_stream_spec(spec: str) -> tuple[str, int]:
    """(``gateway://HOST:PORT``, camera) of a stream spec; ConfigError if malformed."""
    from edgeconsole.devices.ref import TargetRef

    ref = TargetRef.parse(spec)
    if ref.kind != "gateway":
        raise ConfigError("not a gateway camera", subject=spec, hint="gateway://HOST:PORT?camera=0")
    return ref.url, ref.camera()


def describe_stream(spec: str) -> str:
    url, camera = parse_stream_spec(spec)
    return f"{url.removeprefix('gateway://')} camera {camera}"


# ------------------------------------------------------------------------ runner
class _LinkState:
    """``runner.source`` for the session: the link's state, and close()."""

    def __init__(self, receiver: Any) -> None:
        self._rx = receiver

    @property
    def state(self) -> str:
        return "open" if self._rx.stats.connected else "reconnecting"

    def close(self) -> None:
        self._rx.stop()


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """BGR image of a JPEG, or None when it does not decode (counted by the caller)."""
    import cv2
    import numpy as np

    if not data:
        return None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return image if isinstance(image, np.ndarray) and image.ndim == 3 else None


class GatewayStreamRunner(RunnerBase):
    def __init__(self, receiver: Any, output: RunnerSink, *, url: str) -> None:
        self.receiver = receiver
        self.source = _LinkState(receiver)
        self.output = output
        self.url = url
        self.processed = 0  # results turned into samples
        self.unsynced = 0  # results before the clocks were aligned (no network stage)
        self.frames = 0  # JPEGs decoded and handed on
        self.bad_jpegs = 0
        self.agent_errors = 0
        self.last_agent_error = ""
        self._model = ""
        self._pairs: OrderedDict[int, tuple[InferenceResult, int]] = OrderedDict()
        self._frame_times: deque[int] = deque(maxlen=60)
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="edgeconsole-gateway-stream", daemon=True
        )

    # ------------------------------------------------------------- control
    @property
    def dropped(self) -> int:
        """Results lost on the way: the agent's queue for us and our own ring."""
        stats = self.receiver.stats
        tel = stats.telemetry or {}
        agent = tel.get("results_dropped")
        return int(stats.results_dropped) + (int(agent) if isinstance(agent, int) else 0)

    @property
    def frame_fps(self) -> float:
        t = self._frame_times
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Returns at once: the runner's thread closes the link on its way out.
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_ended(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    # ---------------------------------------------------------------- loop
    def _loop(self) -> None:
        rx = self.receiver
        reason = "stopped"
        try:
            while not self._stop.is_set():
                with rx.changed:
                    rx.changed.wait(0.05)
                for item in rx.take_results():
                    self._on_item(item)
                frame = rx.take_frame()
                if frame is not None:
                    self._on_jpeg(frame)
        except Exception as exc:  # a decoder bug must reach the person, not end silently
            reason = "stream error"
            self.output.error("stream", exc)
        finally:
            rx.stop()
            self._ended.set()
            self.output.end(reason)

    def _on_item(self, item: Any) -> None:
        result = item.result if item.result is not None else InferenceResult(item.frame_index)
        if item.error:
            self.agent_errors += 1
            self.last_agent_error = str(item.error)
        if item.model:
            text = f"{item.model.get('name', '?')} v{item.model.get('version', '?')}"
            if text != self._model:
                self._model = text
                self.output.model(text)
        capture_start = item.received_ns - int(item.e2e_ms * 1e6)
        self._pairs[item.frame_index] = (result, capture_start)
        while len(self._pairs) > PAIR_WINDOW:
            self._pairs.popitem(last=False)
        # A per-part model on the gateway: the parts it decided, with its line's state.
        out = RunnerOutput(decisions=list(item.parts), line=item.line, done_ns=item.received_ns)
        if "network" not in item.stages:
            # Before the clocks are aligned e2e ends on the agent: not comparable.
            self.unsynced += 1
        else:
            stages = {k: float(v) for k, v in item.stages.items() if k in _KEEP}
            # agent_queue, encode and our own hand-off stay in "unaccounted".
            out.sample = LatencySample(item.frame_index, stages, float(item.e2e_ms))
            out.result = result
            self.processed += 1
        if out.sample is not None or out.decisions or out.line is not None:
            self.output.output(out)

    def _on_jpeg(self, f: Any) -> None:
        image = decode_jpeg(f.jpeg)
        if image is None:
            self.bad_jpegs += 1
            return
        pair = self._pairs.get(f.frame_index)
        result, capture_start = pair if pair is not None else (None, f.received_ns)
        frame = Frame(
            index=f.frame_index,
            image=image,
            captured_ns=capture_start,
            source=self.url,
            capture_started_ns=capture_start,
            stamps={"capture_start": capture_start, "captured": capture_start},
        )
        frame.stamps["decoded"] = now_ns()
        self.frames += 1
        self._frame_times.append(frame.stamps["decoded"])
        if result is None:
            result = InferenceResult(f.frame_index)  # its result was dropped: no overlay
        # Shown with the result it belongs to; counted already, with its sample.
        self.output.output(
            RunnerOutput(result=result, frame=frame, done_ns=frame.stamps["decoded"])
        )


def open_stream_runner(
    url: str,
    camera: int,
    token: str | None,
    output: RunnerSink,
    *,
    loop: Any = None,
    frames: bool = True,
    max_fps: float = DEFAULT_MAX_FPS,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    cancelled: Callable[[], bool] = lambda: False,
) -> GatewayStreamRunner:
    """Connect to a gateway camera's stream (waits for the first connection) and
    return its runner, not started yet."""
    from edgeconsole.devices.gateway.stream_receiver import StreamReceiver

    if token is None:
        raise ConfigError(
            "no token for this gateway",
            subject=url,
            hint="add the gateway first (Devices → Add gateway…) with its token",
        )
    host = url.removeprefix("gateway://")
    rx = StreamReceiver(
        f"http://{host}", token, camera=camera, frames=frames, max_fps=max_fps, loop=loop
    ).start()
    deadline = time.monotonic() + connect_timeout_s
    while rx.stats.connects == 0:
        left = deadline - time.monotonic()
        if left <= 0 or cancelled():
            rx.stop()
            raise DeviceError(
                f"cannot open the stream of camera {camera}: {rx.stats.last_error or 'no answer'}",
                subject=url,
                hint="check that the gateway is connected, its token, and the camera number",
            )
        rx.wait_for(lambda s: s.connects > 0 or s.last_error is not None, min(left, 0.25))
        refused = _refusal(rx.stats.last_error) if rx.stats.connects == 0 else None
        if refused is not None:
            rx.stop()
            raise DeviceError(
                f"the gateway refused the stream of camera {camera}: {refused}",
                subject=url,
                hint="check the camera number and the gateway's token",
            )
    return GatewayStreamRunner(rx, output, url=url)


def _refusal(error: str | None) -> str | None:
    """An answer that retrying will not change (4xx), from the receiver's last error."""
    if not error:
        return None
    for status, text in (
        ("401", "token refused (401)"),
        ("403", "forbidden (403)"),
        ("404", "no such camera (404)"),
        ("400", "bad request (400)"),
    ):
        if f"{status}," in error or f"status={status}" in error or f" {status} " in error:
            return text
    return None


# ------------------------------------------------------------------------ monitor
class StreamMonitor:
    """A gateway stream summarised without a window (the headless demo)."""

    def __init__(self, url: str, camera: int, token: str | None, *, loop: Any = None) -> None:
        self.url = url
        self.camera = camera
        self.stats = LatencyStats(window=2000)
        self.model = ""
        self.results = 0
        #: A per-part camera's decisions (parts, not frames) and their decision times.
        self.parts = 0
        self._decision_ms: deque[float] = deque(maxlen=4000)
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._times: deque[int] = deque(maxlen=4000)
        self.runner = open_stream_runner(
            url,
            camera,
            token,
            CallbackSink(
                on_output=self._output,
                on_model=self._model,
                on_error=lambda where, e: self.errors.append(f"{where}: {e}"),
            ),
            loop=loop,
            frames=False,
        )
        self.runner.start()

    def _output(self, out: RunnerOutput) -> None:
        if out.decisions:
            with self._lock:
                self.parts += len(out.decisions)
                self._decision_ms.extend(d.decision_ms for d in out.decisions if not d.missed)
        if out.sample is None:
            return
        with self._lock:
            self.stats.add(out.sample)
            self.results += 1
            self._times.append(now_ns())

    def _model(self, text: str) -> None:
        self.model = text

    def summary(self) -> dict[str, Any]:
        with self._lock:
            snap = self.stats.snapshot()
            times = list(self._times)
            decision = sorted(self._decision_ms)
        rx = self.runner.receiver.stats
        span = (times[-1] - times[0]) / 1e9 if len(times) >= 2 else 0.0

        def pick(name: str) -> dict[str, float | None]:
            d = snap.run[name].to_json()
            return {"p50": d["p50"], "p99": d["p99"], "max": d["max"]}

        return {
            "url": self.url,
            "camera": self.camera,
            "connected": bool(rx.connected),
            "model": self.model,
            "results": self.results,
            "parts": self.parts,
            "decision_ms": {
                "p50": decision[len(decision) // 2] if decision else None,
                "p99": decision[min(len(decision) - 1, int(0.99 * len(decision)))]
                if decision
                else None,
            },
            "fps": round((len(times) - 1) / span, 2) if span > 0 else 0.0,
            "network_ms": pick("network"),
            "e2e_ms": pick("e2e"),
            "reconnects": rx.reconnects,
            "dropped": self.runner.dropped,
            "errors": self.errors[-3:],
        }

    def close(self) -> None:
        self.runner.stop()
        self.runner.join(5.0)


# ------------------------------------------------------------------ remote OIP
class RemoteOipRunner:
    """Pre- and post-processing on the laptop, inference on an OIP v2 server
    (``inference.remote``, the one remote path; commissioning's gateway runner uses it
    too). ``process(frame)`` stamps the same stages as the local engine; ``infer`` is
    the round trip to the server (the status calls it "infer (remote)")."""

    def __init__(self, spec: Any, client: Any, model: str) -> None:
        self.spec = spec
        self.client = client
        self.model = model
        self._remote: RemoteInference | None = None

    def check(self) -> dict[str, Any]:
        """The server's metadata of the model; refuses one whose input does not match."""
        from edgeconsole.inference.remote import RemoteInference

        if self._remote is None:
            self._remote = RemoteInference(self.spec, self.client, self.model)
        return self._remote.metadata

    def process(self, frame: Frame) -> InferenceResult:
        if self._remote is None:
            self.check()
        assert self._remote is not None
        return self._remote.process(frame)

    def close(self) -> None:
        try:
            if self._remote is not None:
                self._remote.close()
        except EdgeConsoleError:
            pass
        try:
            self.client.close()
        except EdgeConsoleError:
            pass  # the server is gone already: nothing left to close there
