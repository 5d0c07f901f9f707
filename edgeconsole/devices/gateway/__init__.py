"""Gateways over HTTP: the EdgeConsole agent, and any Open Inference Protocol v2 server.

- :class:`OipClient` speaks OIP v2 REST (JSON and binary tensors) to the agent,
  Triton, KServe, MLServer or OpenVINO Model Server.
- :class:`GatewayClient` adds the agent's ``/v2/edgeconsole/`` endpoints: info,
  slots, resumable upload, trial/confirm/rollback, journal.
- :class:`StreamReceiver` follows the agent's WebSocket stream with heartbeat,
  reconnect and clock sync (so the network becomes a latency stage).
- :class:`GatewayTarget` is the Target protocol over all of that.

I/O runs on one asyncio loop in a background thread (:mod:`loop`); the sync
methods are thin waits on it.
"""

from __future__ import annotations

from edgeconsole.devices.gateway.client import GatewayClient
from edgeconsole.devices.gateway.oip import OipClient
from edgeconsole.devices.gateway.stream_receiver import StreamReceiver
from edgeconsole.devices.gateway.target import GatewayTarget

__all__ = ["GatewayClient", "GatewayTarget", "OipClient", "StreamReceiver"]
