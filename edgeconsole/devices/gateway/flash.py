"""Flash a gateway: resumable upload, trial with the agent's isolated health check,
then confirm (or the agent has already rolled back). Same result as the serial job."""

from __future__ import annotations

import time
from typing import Literal

from edgeconsole.core.errors import DeviceError
from edgeconsole.devices.gateway.target import GatewayTarget
from edgeconsole.devices.serial.flash import FlashResult
from edgeconsole.devices.target import FlashJobBase, Payload, ProgressFn


class GatewayFlashJob(FlashJobBase):
    forward_phases = frozenset({"upload"})

    def __init__(
        self,
        target: GatewayTarget,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
    ) -> None:
        super().__init__(payload, mode=mode, progress=progress)
        self.target = target

    def run(self) -> FlashResult:
        t0 = time.perf_counter()
        slot = self.target.upload(self.payload, self._count)
        seconds_upload = time.perf_counter() - t0
        self._report("trial")
        try:
            self.target.activate(slot, self.payload)  # the health check runs on the agent
        except DeviceError as exc:
            raise DeviceError(
                f"bundle {self.payload.bundle_id} v{self.payload.version} failed its health "
                f"check on the gateway; the agent rolled back ({exc.what})",
                subject=self.target.url,
                hint="check the bundle's golden data and latency budget; the gateway runs "
                "its confirmed bundle",
            ) from exc
        self._report("selftest")
        test = self.target.self_test(slot)
        confirmed = False
        if self.mode == "confirm":
            self._report("confirm")
            self.target.confirm(slot)
            confirmed = True
        slots = self.target.slots()
        self._report("done")
        n = len(self.payload.data)
        return FlashResult(
            slot,
            confirmed,
            test,
            slots,
            time.perf_counter() - t0,
            n / seconds_upload if seconds_upload > 0 else 0.0,
            self.resumes,
        )
