"""Running the agent: in the foreground (the CLI) or on a background thread (tests, demo)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Any

from aiohttp import web

from edgeconsole.agent import logredact
from edgeconsole.agent.app import Agent, AgentConfig
from edgeconsole.agent.ports import AgentPorts
from edgeconsole.core.errors import ConfigError

#: aiohttp's request-body buffer (its default, 64 KiB). Bytes in it when a TCP
#: connection drops are lost (aiohttp discards them), so a bigger buffer makes a
#: resume after a cut start further back; measured, 256 KiB saved no CPU worth that.
READ_BUFSIZE = 1 << 16


class AgentServer:
    """The agent bound to a socket. ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(self, config: AgentConfig, ports: AgentPorts) -> None:
        self.config = config
        self.agent = Agent(config, ports)
        self._runner: web.AppRunner | None = None
        self._advertiser: Any = None
        self.port = config.port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        # Before the first connection: aiohttp logs unparseable requests verbatim.
        logredact.protect(self.config.token)
        app = self.agent.make_app()
        # No access log: nothing about a request (least of all its headers) is logged.
        # Larger request-body buffers: an upload arrives in fewer, bigger pieces.
        c = self.config
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            read_bufsize=READ_BUFSIZE,
            # An idle keep-alive connection, or one whose request head is still
            # arriving, is closed after this (the guard times the first head too).
            keepalive_timeout=c.header_timeout_s,
            # The unread rest of a refused or dropped body is not drained (a trickling
            # peer would hold the connection for it): the connection just closes.
            lingering_time=0,
            # A stop waits this long for running requests, then cancels them (an
            # upload keeps what it received).
            shutdown_timeout=c.shutdown_s,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self.agent.guard.install(self._runner.server)
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}",
                hint="pick another --port or stop the other agent",
            ) from exc
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.agent.start_cameras(asyncio.get_running_loop())
        # Off the loop, behind the listening socket: the first upload then does not
        # pay for importing the verifier (about 0.1 s) while its bytes arrive.
        asyncio.get_running_loop().run_in_executor(None, _prime_verifier, self.agent.ports)
        if self.config.mdns:
            from edgeconsole.agent.mdns import Advertiser

            loop = asyncio.get_running_loop()
            self._advertiser = await loop.run_in_executor(
                None,
                lambda: Advertiser(
                    self.config.name,
                    self.config.host,
                    self.port,
                    {"path": "/v2", "hw": self.config.hardware_id},
                ),
            )
        self.agent.journal.add("agent", f"listening on {self.url}")

    async def stop(self) -> None:
        if self._advertiser is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._advertiser.close)
            self._advertiser = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.get_running_loop().run_in_executor(None, self.agent.close)
        logredact.release(self.config.token)


def _prime_verifier(ports: AgentPorts) -> None:
    """Load the bundle verifier's code now by asking it about an empty manifest
    (which it refuses); nothing is verified or kept."""
    with contextlib.suppress(Exception):
        ports.verify_manifest(b"{}", b"")


def run_forever(config: AgentConfig, ports: AgentPorts, on_ready: Any = None) -> None:
    """Serve until SIGINT/SIGTERM."""

    async def main() -> None:
        server = AgentServer(config, ports)
        await server.start()
        if on_ready is not None:
            on_ready(server)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())


class BackgroundAgent:
    """The agent on its own event-loop thread (tests, the demo)."""

    def __init__(self, config: AgentConfig, ports: AgentPorts) -> None:
        self.config = config
        self.ports = ports
        self.loop = asyncio.new_event_loop()
        self.server: AgentServer | None = None
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="agent-loop", daemon=True
        )

    def start(self, timeout: float = 30.0) -> BackgroundAgent:
        self._thread.start()

        async def boot() -> AgentServer:
            server = AgentServer(self.config, self.ports)
            await server.start()
            return server

        try:
            self.server = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(timeout)
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)  # no loop thread left behind
            self._thread.join(timeout)
            self.loop.close()
            raise
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def agent(self) -> Agent:
        assert self.server is not None
        return self.server.agent

    def stop(self, timeout: float = 30.0) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout)
            self.server = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self.loop.close()

    def __enter__(self) -> BackgroundAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
