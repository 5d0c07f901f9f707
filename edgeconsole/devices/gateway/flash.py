"""Flash a gateway: resumable upload, trial with the agent's isolated health check,
then confirm (or the agent has already rolled back). Same flow and result as serial."""

from __future__ import annotations

import threading
from typing import Literal

from edgeconsole.core.errors import DeviceError
from edgeconsole.devices.gateway.target import GatewayTarget
from edgeconsole.devices.target import FlashJobBase, Payload, ProgressFn, SelfTest, SlotInfo


class GatewayFlashJob(FlashJobBase):
    forward_phases = frozenset({"upload"})

    def __init__(
        self,
        target: GatewayTarget,
        payload: Payload,
        *,
        mode: Literal["trial", "confirm"] = "confirm",
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(payload, mode=mode, progress=progress, cancel=cancel)
        self.target = target

    def upload(self) -> int:
        # The agent resumes an upload by the payload's hash itself: nothing left to sort out.
        return self.target.upload(self.payload, self._count, cancel=self.cancel)

    def finish(self, slot: int) -> tuple[SelfTest | None, list[SlotInfo], bool]:
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
        return test, self.target.slots(), confirmed
