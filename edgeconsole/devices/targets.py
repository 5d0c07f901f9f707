"""Open any target by its URL (DESIGN section 4): ``serial://...`` or a port path,
``gateway://HOST:PORT``. ``local://`` and ``sim://`` are composed above devices; the
driver of each kind says how its target is opened (``devices.driver.open_device``)."""

from __future__ import annotations

from edgeconsole.devices.driver import open_device as open_target
from edgeconsole.devices.ref import TargetRef

__all__ = ["is_gateway", "open_target"]


def is_gateway(url: str) -> bool:
    return TargetRef.parse(url).kind == "gateway"
