"""The session's drivers of network targets (``devices.driver.TargetDriver``).

:class:`GatewayDriver` drives an EdgeConsole agent (``gateway://``: identity, A/B
slots, resumable upload through ``GatewayFlashJob``, health, models, cameras);
:class:`OipDriver` any Open Inference Protocol v2 server (``oip://``: Triton, KServe,
MLServer: metadata, health and models; no slots). Both are watched by asking their
health every ``WATCH_S``; both take a token (given, read from a token file, or the one
remembered for that host:port) and remember one that worked.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from edgeconsole.core.errors import ConfigError, DeviceError, EdgeConsoleError
from edgeconsole.devices.driver import Reading, SlotsOnDevice
from edgeconsole.devices.gateway.http import AuthError, GatewayHTTPError
from edgeconsole.devices.gateway.oip import OipClient
from edgeconsole.devices.gateway.tokens import remember, resolve
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import (
    FlashJobBase,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
    TargetInfo,
)

if TYPE_CHECKING:
    from edgeconsole.devices.gateway.target import GatewayTarget
    from edgeconsole.devices.loop import LoopThread

#: How often a connected target's health is asked (and a lost one looked for).
WATCH_S = 1.0
TIMEOUT_S = 10.0


class _NetworkDriver:
    """What a gateway and an OIP server share: token, health, models, watching."""

    kind = "oip"
    streams_telemetry = False
    watch_every_s = WATCH_S
    watch_while_up = True

    def __init__(
        self,
        ref: TargetRef,
        io: LoopThread,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        remember: bool = True,
    ) -> None:
        self.url = ref.url
        self.hostport = ref.hostport
        self._ref = ref
        self._io = io
        self._given = token is not None or token_file is not None
        self._token_file = token_file
        self.token = token
        self._remember = remember
        self._client: OipClient | None = None
        self._info = TargetInfo(self.url, "")
        self._disconnects = 0

    @property
    def disconnects(self) -> int:
        return self._disconnects

    @property
    def client(self) -> OipClient:
        if self._client is None:
            raise DeviceError("not connected", subject=self.url, hint="connect it first")
        return self._client

    # -- connecting --------------------------------------------------------------------
    def connect(self) -> Reading:
        token = resolve(self.hostport, token=self.token, token_file=self._token_file)
        self._client = self._open(token)
        try:
            reading = self.read()
        except BaseException:
            self.close()
            raise
        self.token = token
        if token is not None and self._given and self._remember:
            try:
                remember(self.hostport, token)
            except OSError:
                pass  # kept for this session only; the next one asks for it again
        return reading

    def _open(self, token: str | None) -> OipClient:
        return OipClient(self._ref.http_base, token, timeout_s=TIMEOUT_S, loop=self._io)

    def read(self) -> Reading:
        client = self.client
        info, slots, server = self._identity()
        health = health_text(client.is_live(), client.is_ready())
        models: list[str] = []
        try:
            for row in client.repository_index():
                if isinstance(row, dict) and row.get("name"):
                    version = f" v{row['version']}" if row.get("version") else ""
                    state = f" ({row['state']})" if row.get("state") else ""
                    models.append(f"{row['name']}{version}{state}")
        except AuthError:
            raise
        except GatewayHTTPError:
            pass  # no repository extension (KServe, MLServer without it): no list
        self._info = info
        return Reading(info, slots, health, server, tuple(models), cameras_of(info))

    def _identity(self) -> tuple[TargetInfo, tuple[SlotInfo, ...], str]:
        meta = self.client.server_metadata()
        name = str(meta.get("name") or "OIP server")
        server = f"{name} {meta.get('version') or ''}".strip()
        info = TargetInfo(
            url=self.url,
            name=name,
            firmware=server,
            extra={"extensions": list(meta.get("extensions") or [])},
        )
        return info, (), server

    def watch(self) -> Reading | None:
        try:
            return self._look()
        except AuthError:
            raise
        except EdgeConsoleError:
            self._disconnects += 1  # whichever question went unanswered
            raise

    def _look(self) -> Reading:
        client = self.client
        health = health_text(client.is_live(), client.is_ready())
        return Reading(self._info, health=health, cameras=cameras_of(self._info))

    def link_lost(self) -> str | None:
        return None  # found by ``watch``

    def back(self) -> bool:
        try:
            return bool(self.client.is_live())
        except EdgeConsoleError:
            return False

    def reconnect(self) -> Reading:
        return self.read()

    # -- jobs --------------------------------------------------------------------------
    def refuse(self, job: str) -> None:
        raise DeviceError(
            f"{job}: an Open Inference Protocol server has no slots",
            subject=self.url,
            hint="bundles are flashed to EdgeConsole agents (gateway://)",
        )

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"],
        progress: ProgressFn,
        cancel: threading.Event,
    ) -> FlashJobBase:
        self.refuse("flash")
        raise AssertionError("unreachable")

    def slots(self) -> list[SlotInfo]:
        return []

    def self_test(self, slot: int | None = None) -> SelfTest:
        self.refuse("health check")
        raise AssertionError("unreachable")

    def confirm(self, slot: int | None = None) -> list[SlotInfo]:
        self.refuse("confirm")
        raise AssertionError("unreachable")

    def rollback(self) -> list[SlotInfo]:
        self.refuse("rollback")
        raise AssertionError("unreachable")

    def drain(self) -> list[tuple[int, bytes]]:
        return []

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a link that never worked: nothing to keep
                pass


class OipDriver(_NetworkDriver):
    """Any Open Inference Protocol v2 server: health and models, no slots."""

    kind = "oip"
    has_slots = False

    @staticmethod
    def open_device(
        ref: TargetRef,
        *,
        token: str | None = None,
        token_file: Path | str | None = None,
        timeout_s: float = TIMEOUT_S,
        probe: bool = True,
    ) -> GatewayTarget:
        raise ConfigError("oip:// targets are opened by the session", subject=ref.url)


class GatewayDriver(SlotsOnDevice, _NetworkDriver):
    """An EdgeConsole agent: the OIP face plus identity, slots and flashing."""

    kind = "gateway"
    has_slots = True

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._target: GatewayTarget | None = None

    @staticmethod
    def open_device(
        ref: TargetRef,
        *,
        token: str | None = None,
        token_file: Path | str | None = None,
        timeout_s: float = TIMEOUT_S,
        probe: bool = True,
    ) -> GatewayTarget:
        """A bare ``GatewayTarget`` on its own loop (``devices.driver.open_device``)."""
        from edgeconsole.devices.gateway.target import GatewayTarget

        token = resolve(ref.hostport, token=token, token_file=token_file)
        target = GatewayTarget(ref.url, token, timeout_s=timeout_s)
        if probe:
            try:
                target.info()
            except BaseException:
                target.close()
                raise
            if token is not None:
                remember(target.hostport, token)
        return target

    @property
    def device(self) -> GatewayTarget:
        if self._target is None:
            raise DeviceError("not connected", subject=self.url, hint="connect it first")
        return self._target

    def _open(self, token: str | None) -> OipClient:
        from edgeconsole.devices.gateway.target import GatewayTarget

        if token is None:
            raise ConfigError(
                f"no token for gateway {self.hostport}",
                subject=self.url,
                hint="give the agent's token or its token file (the agent's DATA/token)",
            )
        self._target = GatewayTarget(self.url, token, timeout_s=TIMEOUT_S, loop=self._io)
        return self._target.client

    def _identity(self) -> tuple[TargetInfo, tuple[SlotInfo, ...], str]:
        info = self.device.info()
        return info, tuple(self.device.slots()), info.firmware

    def _look(self) -> Reading:
        looked = super()._look()
        self._info = self.device.info()
        return Reading(self._info, health=looked.health, cameras=cameras_of(self._info))

    def refuse(self, job: str) -> None:
        return None

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"],
        progress: ProgressFn,
        cancel: threading.Event,
    ) -> FlashJobBase:
        return self.device.flash_job(payload, mode=mode, progress=progress, cancel=cancel)

    def close(self) -> None:
        super().close()
        self._target = None


def health_text(live: bool, ready: bool) -> str:
    return f"{'live' if live else 'NOT live'}, {'ready' if ready else 'NOT ready'}"


def cameras_of(info: TargetInfo) -> tuple[str, ...]:
    out: list[str] = []
    for c in (info.extra or {}).get("cameras") or []:
        if isinstance(c, dict):
            fps = c.get("fps")
            # The source without its options: "synthetic:conveyor", "rtsp://cam1/stream".
            source = str(c.get("source", "?")).split("?", 1)[0]
            state = str(c.get("state", "?"))
            out.append(
                f"{c.get('index', len(out))}: {source}"
                + ("" if state == "running" else f" · {state}")
                + (f" · {fps:g} fps" if isinstance(fps, int | float) else "")
            )
    return tuple(out)
