"""The EdgeConsole SMP application group's numbers and its error, shared by the
virtual device's server (``smp_server.py``) and its inference command (``smp_infer.py``).
The wire format: ``edgeconsole/devices/serial/README.md``."""

from __future__ import annotations

from typing import Any

#: Our SMP application group (Zephyr's per-user range starts at 64; smpmgr's
#: vendor group is 64, so EdgeConsole uses 65).
APP_GROUP_ID = 65


class AppCmd:
    SLOTS = 0
    ACTIVATE = 1
    CONFIRM = 2
    ROLLBACK = 3
    SELFTEST = 4
    STREAM = 5
    INFO = 6
    INFER = 7


class AppErr:
    """rc values of the app group's errors (the ``rsn`` text says more)."""

    REFUSED = 1  # the slot state machine refused the transition
    NO_SLOT = 2
    SELFTEST_FAILED = 3
    INVALID = 4
    NO_MODEL = 5  # the active slot holds nothing the device can run
    TOO_LARGE = 6  # an inference input or output beyond MAX_INFER_BYTES
    INFER_FAILED = 7  # the model raised, or answered something that is not a tensor


class SmpFailure(Exception):
    def __init__(self, group: int, rc: int, reason: str = "") -> None:
        super().__init__(reason)
        self.group = group
        self.rc = rc
        self.reason = reason


def whole(body: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """``body[key]`` as a whole number >= 0 (None when absent and no default)."""
    value = body.get(key, default)
    if value is not None and (type(value) is not int or value < 0):
        raise SmpFailure(APP_GROUP_ID, AppErr.INVALID, f"{key} must be a whole number")
    return value
