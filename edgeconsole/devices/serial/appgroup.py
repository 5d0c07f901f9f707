"""Typed requests of the EdgeConsole SMP application group (ID 65), for smpclient.

Wire format (CBOR maps; see README.md): read 0 = slots, write 1 = activate,
write 2 = confirm, write 3 = rollback, write 4 = self-test, write 5 = stream
rate, read 6 = device info, write 7 = infer (input in chunks), read 7 = infer
result bytes (when the outputs did not fit one response).
Errors: ``{"err": {"group": 65, "rc": N}, "rsn": text}``.
"""

from __future__ import annotations

from enum import IntEnum, unique
from typing import Any

from pydantic import ConfigDict
from smp import error as smperr
from smp import message as smpmsg

APP_GROUP_ID = 65


@unique
class APP_ERR(IntEnum):  # noqa: N801 - named like smp's error enums
    OK = 0
    REFUSED = 1
    NO_SLOT = 2
    SELFTEST_FAILED = 3
    INVALID = 4
    NO_MODEL = 5
    TOO_LARGE = 6
    INFER_FAILED = 7


class AppErrorV1(smperr.ErrorV1):
    _GROUP_ID = APP_GROUP_ID


class AppErrorV2(smperr.ErrorV2[APP_ERR]):
    _GROUP_ID = APP_GROUP_ID
    rsn: str | None = None


class SlotsResponse(smpmsg.ReadResponse):
    model_config = ConfigDict(extra="allow", frozen=True)
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 0
    slots: list[dict[str, Any]]
    running: int
    confirmed: int


class _SlotsReadBase(smpmsg.ReadRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 0


def _slots_write_response(cmd: int) -> type[smpmsg.WriteResponse]:
    class _R(smpmsg.WriteResponse):
        model_config = ConfigDict(extra="allow", frozen=True)
        _GROUP_ID = APP_GROUP_ID
        _COMMAND_ID = cmd
        slots: list[dict[str, Any]]
        running: int
        confirmed: int

    return _R


class _Errors:
    _ErrorV1 = AppErrorV1
    _ErrorV2 = AppErrorV2


ActivateResponse = _slots_write_response(1)
ConfirmResponse = _slots_write_response(2)
RollbackResponse = _slots_write_response(3)


class _ActivateBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 1
    slot: int
    bundle_id: str | None = None
    bundle_version: int | None = None
    attempts: int | None = None


class _ConfirmBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 2
    slot: int | None = None


class _RollbackBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 3


class SelfTestResponse(smpmsg.WriteResponse):
    model_config = ConfigDict(extra="allow", frozen=True)
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 4
    slot: int
    passed: bool
    detail: str
    rolled_back: bool
    slots: list[dict[str, Any]]
    running: int
    confirmed: int
    max_error: float | None = None
    p95_ms: float | None = None


class _SelfTestBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 4
    slot: int | None = None


class StreamResponse(smpmsg.WriteResponse):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 5
    rate: float


class _StreamBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 5
    rate: float


class InfoResponse(smpmsg.ReadResponse):
    model_config = ConfigDict(extra="allow", frozen=True)
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 6
    name: str
    serial: str
    hw_id: str
    fw_version: str
    buf_size: int
    app_group: int


class _InfoBase(smpmsg.ReadRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 6


class InferResponse(smpmsg.WriteResponse):
    model_config = ConfigDict(extra="allow", frozen=True)
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 7
    off: int
    infer_us: int | None = None
    out_len: int | None = None
    outputs: list[dict[str, Any]] | None = None


class _InferBase(smpmsg.WriteRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 7
    off: int
    data: bytes
    len: int | None = None
    dtype: str | None = None
    shape: list[int] | None = None
    name: str | None = None


class InferResultResponse(smpmsg.ReadResponse):
    model_config = ConfigDict(extra="allow", frozen=True)
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 7
    off: int
    len: int
    data: bytes


class _InferResultBase(smpmsg.ReadRequest):
    _GROUP_ID = APP_GROUP_ID
    _COMMAND_ID = 7
    off: int


class SlotsRead(_SlotsReadBase, _Errors):
    _Response = SlotsResponse


class ActivateWrite(_ActivateBase, _Errors):
    _Response = ActivateResponse


class ConfirmWrite(_ConfirmBase, _Errors):
    _Response = ConfirmResponse


class RollbackWrite(_RollbackBase, _Errors):
    _Response = RollbackResponse


class SelfTestWrite(_SelfTestBase, _Errors):
    _Response = SelfTestResponse


class StreamWrite(_StreamBase, _Errors):
    _Response = StreamResponse


class InfoRead(_InfoBase, _Errors):
    _Response = InfoResponse


class InferWrite(_InferBase, _Errors):
    _Response = InferResponse


class InferResultRead(_InferResultBase, _Errors):
    _Response = InferResultResponse
