"""A gateway as a :class:`edgeconsole.devices.target.Target`: ``gateway://HOST:PORT``."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from edgeconsole.core.errors import Cancelled, ConfigError, DeviceError
from edgeconsole.devices.gateway.client import GatewayClient, UploadProgress
from edgeconsole.devices.gateway.tokens import resolve
from edgeconsole.devices.loop import LoopThread
from edgeconsole.devices.ref import TargetRef
from edgeconsole.devices.target import (
    FlashJobBase,
    FlashProgress,
    Payload,
    ProgressFn,
    SelfTest,
    SlotInfo,
    TargetInfo,
)


def slots_from_json(data: dict[str, Any]) -> list[SlotInfo]:
    out = []
    for s in data.get("slots") or []:
        out.append(
            SlotInfo(
                index=int(s["index"]),
                state=str(s["state"]),
                bundle_id=str(s.get("bundle_id", "")),
                version=int(s.get("version", 0)),
                sha256=str(s.get("sha256", "")),
                length=int(s.get("length", 0)),
                attempts=int(s.get("attempts", 0)),
                running=data.get("running") == s["index"],
                confirmed=data.get("confirmed") == s["index"],
            )
        )
    return out


class GatewayTarget:
    """Target protocol over the agent's HTTP API."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        loop: LoopThread | None = None,
    ) -> None:
        ref = TargetRef.parse(url)
        if ref.kind != "gateway":
            raise ConfigError(f"not a gateway URL: {url}", hint="use gateway://HOST:PORT")
        self.url = ref.url
        self.hostport = ref.hostport
        self.token = resolve(self.hostport, token=token)
        if self.token is None:
            raise ConfigError(
                f"no token for gateway {self.hostport}",
                hint="pass --token-file F (the agent's DATA/token)",
            )
        self.client = GatewayClient(ref.http_base, self.token, timeout_s=timeout_s, loop=loop)
        self.last_activation: dict[str, Any] | None = None

    def info(self) -> TargetInfo:
        d = self.client.info()
        return TargetInfo(
            url=self.url,
            name=str(d.get("name", self.hostport)),
            serial=str(d.get("hostname", "")),
            hw_id=str(d.get("hardware_id", "")),
            firmware=f"{d.get('agent', 'agent')} {d.get('version', '')}".strip(),
            extra={
                "model": (d.get("model") or {}).get("name"),
                "model_version": (d.get("model") or {}).get("version"),
                "slot_state": d.get("slot_state"),
                "cameras": d.get("cameras", []),
                "uptime_s": d.get("uptime_s"),
            },
        )

    def slots(self) -> list[SlotInfo]:
        return slots_from_json(self.client.slots())

    def upload(
        self,
        payload: Payload,
        progress: ProgressFn | None = None,
        *,
        cancel: threading.Event | None = None,
    ) -> int:
        """Resumable upload into the inactive slot. ``cancel`` being set (or ``progress``
        raising Cancelled) stops it at once and tells the agent to drop the partial
        upload, so the next flash is not refused as a second one."""
        t0 = time.monotonic()
        stop = cancel if cancel is not None else threading.Event()

        def report(p: UploadProgress) -> None:
            if progress is None or p.phase != "upload":
                return
            rate = p.bytes_per_s
            eta = (p.total - p.sent) / rate if rate > 0 else None
            try:
                progress(FlashProgress(p.sent, p.total, rate, eta, p.resumes, "upload"))
            except Cancelled:
                # Raised inside the upload task, the client's resume logic would take it
                # for a broken link: the wait on ``stop`` cancels the task instead.
                stop.set()

        result = self.client.upload(
            payload.data,
            sha256=payload.sha256,
            progress=report,
            allow_downgrade=payload.allow_downgrade,
            cancel=stop,
        )
        if progress is not None:
            n = len(payload.data)
            rate = n / max(time.monotonic() - t0, 1e-6)
            progress(FlashProgress(n, n, rate, 0.0, int(result.get("resumes", 0)), "verify"))
        return int(result["slot"])

    def activate(self, slot: int, payload: Payload | None = None) -> list[SlotInfo]:
        result = self.client.activate(
            slot, allow_downgrade=payload.allow_downgrade if payload is not None else False
        )
        self.last_activation = result
        if result.get("state") == "rolled-back":
            report = result.get("report") or {}
            raise DeviceError(
                f"slot {slot} failed its trial health check and was rolled back: "
                f"{report.get('reason')}",
                subject=self.url,
                hint="the previous bundle keeps running",
            )
        return slots_from_json(result["slots"])

    def self_test(self, slot: int | None = None) -> SelfTest:
        data = self.client.slots()
        report = data.get("last_health_check") or {}
        running = data.get("running")
        return SelfTest(
            slot=slot if slot is not None else int(running or 0),
            passed=bool(report.get("ok")),
            detail=str(report.get("reason", "no health check yet")),
            rolled_back=False,
            max_error=report.get("max_error"),
            p95_ms=report.get("p95_ms"),
        )

    def confirm(self, slot: int | None = None) -> list[SlotInfo]:
        return slots_from_json(self.client.confirm())

    def rollback(self) -> list[SlotInfo]:
        return slots_from_json(self.client.rollback())

    def flash_job(
        self,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> FlashJobBase:
        from edgeconsole.devices.gateway.flash import GatewayFlashJob

        return GatewayFlashJob(self, payload, mode=mode, progress=progress, cancel=cancel)

    def close(self) -> None:
        self.client.close()
