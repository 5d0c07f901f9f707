"""Follow a gateway's live stream for a while and summarise it without a window
(``edgeconsole stream``): the summary has the shape of ``edgeconsole run``'s, with the
network as an extra stage, from the agent sending a result to this console receiving
it (the two clocks are aligned by ping/pong over the same WebSocket).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeconsole.core.errors import ConfigError, DeviceError
from edgeconsole.core.frames import STAGES, LatencySample
from edgeconsole.devices.gateway.stream_receiver import StreamReceiver
from edgeconsole.devices.gateway.tokens import remember, resolve
from edgeconsole.devices.ref import TargetRef
from edgeconsole.inference.latency import LatencyStats
from edgeconsole.session.headless import summarise


def watch_stream(
    target: str,
    *,
    seconds: float,
    token_file: Path | None = None,
    camera: int = 0,
    frames: bool = True,
    max_fps: float = 15.0,
) -> dict[str, Any]:
    """Connect to ``target``'s stream, take its results for ``seconds`` and return the
    summary; the token (from ``token_file`` or remembered) is remembered once it worked."""
    if seconds <= 0:
        raise ConfigError(f"--seconds must be positive, got {seconds}")
    ref = TargetRef.parse(target)
    if ref.kind != "gateway":
        raise ConfigError(f"not a gateway URL: {target}", hint="use gateway://HOST:PORT")
    hostport = ref.hostport
    token = resolve(hostport, token_file=token_file)
    if token is None:
        raise ConfigError(
            f"no token for gateway {hostport}", hint="pass --token-file F (the agent's DATA/token)"
        )
    rx = StreamReceiver(ref.http_base, token, camera=camera, frames=frames, max_fps=max_fps).start()
    items: list[Any] = []
    t0 = time.monotonic()
    try:
        if not rx.wait_for(lambda s: s.connects >= 1 or s.last_error is not None, 10.0) or (
            rx.stats.connects == 0
        ):
            raise DeviceError(
                f"cannot open the stream: {rx.stats.last_error or 'no answer'}",
                subject=target,
                hint="check the address and the token",
            )
        if token_file:
            remember(hostport, token)
        t0 = time.monotonic()
        while (left := seconds - (time.monotonic() - t0)) > 0:
            rx.wait_for(lambda s: False, min(left, 0.25))
            items.extend(rx.take_results())
            rx.take_frame()
        items.extend(rx.take_results())
    finally:
        rx.stop()
    return summarise_stream(items, elapsed_s=time.monotonic() - t0, stats=rx.stats, target=target)


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    a = np.asarray(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p90": round(float(np.percentile(a, 90)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


def summarise_stream(
    items: list[Any], *, elapsed_s: float, stats: Any, target: str
) -> dict[str, Any]:
    lat = LatencyStats(window=max(len(items), 1))
    network: list[float] = []
    agent_queue: list[float] = []
    detections = passed = failed = 0
    model = "-"
    for i, it in enumerate(items):
        stages = {k: v for k, v in it.stages.items() if k in STAGES}
        lat.add(LatencySample(it.frame_index, stages, it.e2e_ms, first_inference=(i == 0)))
        if "network" in it.stages:
            network.append(it.stages["network"])
        if "agent_queue" in it.stages:
            agent_queue.append(it.stages["agent_queue"])
        if it.result is not None:
            detections += len(it.result.detections)
            passed += sum(1 for p in it.result.parts if p.passed)
            failed += sum(1 for p in it.result.parts if not p.passed)
        if it.model:
            model = f"{it.model.get('name')} v{it.model.get('version')}"
    tel = stats.telemetry or {}
    dropped = int(stats.results_dropped) + int(tel.get("results_dropped", 0) or 0)
    summary = summarise(
        lat.snapshot(),
        frames=len(items),
        dropped=dropped,
        elapsed_s=elapsed_s,
        detections=detections,
        parts_passed=passed,
        parts_failed=failed,
        model=model,
        source=target,
    )
    summary["stages"]["network"] = _pcts(network)
    summary["stages"]["agent_queue"] = _pcts(agent_queue)
    summary["stream"] = {
        "connects": stats.connects,
        "reconnects": stats.reconnects,
        "jpeg_frames": stats.frames,
        "bytes_in": stats.bytes_in,
        "jpeg_skipped": tel.get("jpeg_skipped"),
        "clock_rtt_ms": None if stats.clock_rtt_ns is None else round(stats.clock_rtt_ns / 1e6, 3),
        "agent_fps": (tel.get("camera") or {}).get("fps"),
        "last_error": stats.last_error,
    }
    return summary
