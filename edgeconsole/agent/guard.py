"""Slow, silent and too many connections: the agent never holds them forever.

- **Header timeout.** A connection must deliver a whole request head (request line
  and headers) within ``header_timeout_s`` of opening, and of finishing its last
  request (keep-alive idle counts too); otherwise it is closed. A peer that sends
  one byte every few seconds, or nothing at all, is gone after that long.
- **Body pace.** Request bodies are read at a minimum pace (``agent/bodies.py``).
- **Connection cap.** At most ``max_connections`` are open. A new one over the cap
  evicts the oldest connection that is between requests (idle keep-alive or still
  sending its head); if every one is busy with a request, the new one is closed.

The cap and the header timer hook aiohttp's ``Server.connection_made`` /
``connection_lost`` (the callbacks each connection's ``RequestHandler`` makes) and
a middleware that marks when a request is being handled; tests in
``tests/agent/test_slow_peers.py`` hold real sockets against both, so a change of
aiohttp that bypassed the hooks would fail there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class GuardStats:
    open: int = 0
    peak: int = 0
    header_timeouts: int = 0
    evicted: int = 0
    refused: int = 0


@dataclass
class _Conn:
    timer: asyncio.TimerHandle | None = None
    busy: int = 0  # requests being handled on it (0 or 1 without pipelining)


class ConnectionGuard:
    def __init__(self, *, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.stats = GuardStats()
        self._conns: dict[Any, _Conn] = {}  # insertion order = age

    def install(self, server: Any) -> None:
        """Wrap the server's connection callbacks (``runner.server`` after setup)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            self._made(handler)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self._lost(handler)
            lost(handler, exc)

        server.connection_made = connection_made
        server.connection_lost = connection_lost

    # -- connections -------------------------------------------------------------
    def _made(self, handler: Any) -> None:
        if len(self._conns) >= self.max_connections and not self._evict_one():
            self.stats.refused += 1
            handler.force_close()
            return
        conn = self._conns[handler] = _Conn()
        self._arm(handler, conn)
        self.stats.open = len(self._conns)
        self.stats.peak = max(self.stats.peak, self.stats.open)

    def _lost(self, handler: Any) -> None:
        conn = self._conns.pop(handler, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()
        self.stats.open = len(self._conns)

    def _evict_one(self) -> bool:
        for handler, conn in self._conns.items():
            if not conn.busy:
                self.stats.evicted += 1
                self._close(handler)
                return True
        return False

    def _close(self, handler: Any) -> None:
        conn = self._conns.pop(handler, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()
        self.stats.open = len(self._conns)
        handler.force_close()

    # -- the header timer --------------------------------------------------------------
    def _arm(self, handler: Any, conn: _Conn) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
        loop = asyncio.get_running_loop()
        conn.timer = loop.call_later(self.header_timeout_s, self._expired, handler)

    def _expired(self, handler: Any) -> None:
        conn = self._conns.get(handler)
        if conn is None or conn.busy:
            return
        self.stats.header_timeouts += 1
        self._close(handler)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = self._conns.get(request.protocol)
        if conn is None:
            return await handler(request)
        conn.busy += 1
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        try:
            return await handler(request)
        finally:
            conn.busy -= 1
            if not conn.busy and request.protocol in self._conns:
                self._arm(request.protocol, conn)  # the next head must come in time
