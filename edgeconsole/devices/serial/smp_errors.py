"""Every SMP error a device can answer, as a sentence a technician can act on.

One mapping, used by every serial path (requests, uploads, flashing, inference):
the general MCUmgr codes (``MGMT_ERR``, the ``rc`` of an SMP v1 error or of a v2
answer's top level) and each group's own codes (the ``err: {group, rc}`` map of
SMP v2), including EdgeConsole's app group (65). A code nobody listed still
becomes a sentence that names the group and the number, never a dump of the
response object.

Facts come from Zephyr's MCUmgr headers (``mgmt_defines.h``, ``img_mgmt.h``,
``os_mgmt.h``, ``fs_mgmt.h``, ...) as the ``smp`` package mirrors them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smp.error import MGMT_ERR
from smp.header import GroupId

from edgeconsole.core.errors import DeviceError

APP_GROUP_ID = 65  # devices.serial.appgroup.APP_GROUP_ID (kept here to avoid a cycle)

#: Group id -> how a sentence names it.
GROUP_NAMES: dict[int, str] = {
    GroupId.OS_MANAGEMENT: "OS",
    GroupId.IMAGE_MANAGEMENT: "image",
    GroupId.STATISTICS_MANAGEMENT: "statistics",
    GroupId.SETTINGS_MANAGEMENT: "settings",
    GroupId.LOG_MANAGEMENT: "log",
    GroupId.RUNTIME_TESTS: "runtime tests",
    GroupId.SPLIT_IMAGE_MANAGEMENT: "split image",
    GroupId.TEST_CRASH: "crash test",
    GroupId.FILE_MANAGEMENT: "file system",
    GroupId.SHELL_MANAGEMENT: "shell",
    GroupId.ENUM_MANAGEMENT: "group enumeration",
    GroupId.TRANSPORT_MANAGEMENT: "transport",
    GroupId.ZEPHYR_MANAGEMENT: "Zephyr basic",
    64: "Intercreate",
    APP_GROUP_ID: "EdgeConsole model slots",
}

_CHECK_FW = "check that the device runs the firmware you expect"
_RETRY = "wait a moment and try again"
_TRIAL = (
    "confirm (`edgeconsole confirm`) or roll back (`edgeconsole rollback`) the bundle "
    "on trial, then flash again"
)

#: rc of an SMP v1 error or of the top level of a v2 answer (any group).
GENERAL: dict[int, tuple[str, str | None]] = {
    MGMT_ERR.EUNKNOWN: ("the device reported an unknown error", "see the device log"),
    MGMT_ERR.ENOMEM: (
        "the device ran out of memory for this request",
        "reconnect (the console then sends smaller frames) or reset the device",
    ),
    MGMT_ERR.EINVAL: (
        "the device found the request invalid",
        "the device may expect another protocol version or smaller frames",
    ),
    MGMT_ERR.ETIMEOUT: ("the device timed out doing it", _RETRY),
    MGMT_ERR.ENOENT: ("the device has no such entry", None),
    MGMT_ERR.EBADSTATE: ("the device's current state does not allow this", "see its slots"),
    MGMT_ERR.EMSGSIZE: (
        "the answer would not fit the device's buffer",
        "reconnect so the console reads the device's buffer size again",
    ),
    MGMT_ERR.ENOTSUP: (
        "the device does not support this command",
        f"its firmware lacks this MCUmgr command; {_CHECK_FW}",
    ),
    MGMT_ERR.ECORRUPT: ("the device reports corrupt data", "send it again"),
    MGMT_ERR.EBUSY: ("the device is busy with another command", _RETRY),
    MGMT_ERR.EACCESSDENIED: ("the device denied access to this command", None),
    MGMT_ERR.UNSUPPORTED_TOO_OLD: (
        "the device finds the console's SMP protocol version too old",
        "update EdgeConsole",
    ),
    MGMT_ERR.UNSUPPORTED_TOO_NEW: (
        "the device's firmware does not speak this SMP protocol version (too new for it)",
        "update the device's firmware",
    ),
}

_IMG: dict[int, tuple[str, str | None]] = {
    1: ("the device's image manager reported an unknown error", "see the device log"),
    2: ("the device could not read its flash layout", _CHECK_FW),
    3: ("no image on the device matches", "read the slots again"),
    4: ("the image has no TLV area (not a signed MCUboot image)", "build a signed image"),
    5: ("the image's TLV area is invalid", "build the image again"),
    6: ("the image holds more than one hash", "build the image again"),
    7: ("the image's TLV area has an invalid size", "build the image again"),
    8: ("the image has no hash", "build a signed image"),
    9: (
        "the device has no free slot to upload into: one slot runs the confirmed "
        "bundle and the other holds a bundle on trial (or pending)",
        _TRIAL,
    ),
    10: (
        "the device could not open its flash",
        "reset the device; if it persists, the flash may be failing",
    ),
    11: (
        "the device could not read its flash",
        "reset the device; if it persists, the flash may be failing",
    ),
    12: (
        "the device could not write its flash",
        "reset the device; if it persists, the flash may be failing",
    ),
    13: (
        "the device could not erase its flash",
        "reset the device; if it persists, the flash may be failing",
    ),
    14: ("the device has no such slot", "read the slots again"),
    15: ("the device ran out of memory for the upload", "reset the device and flash again"),
    16: (
        "the device's flash was already set up for another upload",
        "reset the device and flash again",
    ),
    17: ("the device's flash was not set up for the upload", "flash again from the start"),
    18: ("the device's flash area has no driver", _CHECK_FW),
    19: ("the upload used an invalid page offset", "flash again from the start"),
    20: ("the upload's offset does not match what the device holds", "flash again (it resumes)"),
    21: ("the upload's length is invalid", "flash again from the start"),
    22: ("the image header is invalid", "build the image again"),
    23: (
        "the image header's magic is wrong (not an MCUboot image)",
        "build a signed MCUboot image",
    ),
    24: ("the image hash is invalid", "build the image again"),
    25: ("the image would land at an invalid flash address", _CHECK_FW),
    26: ("the device could not read the image's version", "build the image again"),
    27: (
        "the device already runs a newer version than this image",
        "flash a newer version",
    ),
    28: ("another image is already pending on the device", _TRIAL),
    29: ("the image's vector table is invalid", "build the image for this board"),
    30: ("the image is too large for the device's slot", "build a smaller image"),
    31: ("the upload sent more bytes than the image's length", "flash again from the start"),
    32: ("the device refused to confirm the image", "run its health check, or roll back"),
    33: (
        "the device refused to put the running image on test",
        "upload into the inactive slot and test that one",
    ),
}

_OS: dict[int, tuple[str, str | None]] = {
    1: ("the device's OS manager reported an unknown error", "see the device log"),
    2: ("the device found the format invalid", None),
    3: ("the device's bootloader did not recognise the query", None),
    4: ("the device's clock is not set", None),
    5: ("the device's clock command failed", None),
}

_FS: dict[int, tuple[str, str | None]] = {
    1: ("the device's file system reported an unknown error", "see the device log"),
    2: ("the file name is invalid on the device", None),
    3: ("the file does not exist on the device", None),
    4: ("the path is a directory on the device", None),
    5: ("the device could not open the file", None),
    6: ("the device could not seek in the file", None),
    7: ("the device could not read the file", None),
    8: ("the device could not truncate the file", None),
    9: ("the device could not delete the file", None),
    10: ("the device could not write the file", "the file system may be full"),
    11: ("the file offset does not match what the device holds", "send the file again"),
    12: ("the file offset is past the file's end", None),
    13: ("the device does not have that checksum/hash type", None),
    14: ("the device has no such mount point", None),
    15: ("the device's file system is read-only", None),
    16: ("the file on the device is empty", None),
}

_APP: dict[int, tuple[str, str | None]] = {
    1: ("the device's slot state machine refused it", "read the slots: `edgeconsole slots`"),
    2: ("the device has no such slot", "read the slots: `edgeconsole slots`"),
    3: ("the bundle failed its health check on the device", "the device rolled it back"),
    4: ("the device found the request invalid", None),
    5: (
        "the device has no runnable model in its active slot",
        "flash a bundle with a model",
    ),
    6: ("the tensor is larger than the device accepts", "send a smaller input"),
    7: ("the model failed on the device", "see the device log"),
}

GROUPS: dict[int, dict[int, tuple[str, str | None]]] = {
    GroupId.OS_MANAGEMENT: _OS,
    GroupId.IMAGE_MANAGEMENT: _IMG,
    GroupId.FILE_MANAGEMENT: _FS,
    APP_GROUP_ID: _APP,
}


class NoAnswer(DeviceError):
    """The device did not answer in time; the link may still be up (a lost frame, a
    busy or rebooting device). Safe requests are asked again; others re-read state."""


@dataclass(frozen=True)
class SmpErrorCode:
    """What an SMP error answer carried: ``group`` is None for a general (v1) code."""

    group: int | None
    rc: int
    reason: str = ""


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def code_of(answer: Any) -> SmpErrorCode | None:
    """The code in an smp error response (v1 or v2); None when it is not one."""
    reason = getattr(answer, "rsn", None)
    reason = reason if isinstance(reason, str) else ""
    err = getattr(answer, "err", None)
    if err is not None:
        group, rc = _as_int(getattr(err, "group", None)), _as_int(getattr(err, "rc", None))
        if rc is not None:
            return SmpErrorCode(group, rc, reason)
    rc = _as_int(getattr(answer, "rc", None))
    if rc is not None:
        return SmpErrorCode(None, rc, reason)
    return None


def _humanize(name: str) -> str:
    words = re.sub(r"^(ERR_|[A-Z]+_MGMT_ERR_)", "", name).replace("_", " ").lower()
    return words


def _enum_name(group: int, rc: int) -> str | None:
    """The smp package's name for a code of a group we have no sentence for."""
    import importlib

    where = {
        GroupId.STATISTICS_MANAGEMENT: ("smp.statistics_management", "STAT_MGMT_ERR"),
        GroupId.SETTINGS_MANAGEMENT: ("smp.settings_management", "SETTINGS_MGMT_ERR"),
        GroupId.ENUM_MANAGEMENT: ("smp.enumeration_management", "ENUM_MGMT_ERR"),
        GroupId.TRANSPORT_MANAGEMENT: ("smp.transport_management", "TRANSPORT_MGMT_ERR"),
        GroupId.ZEPHYR_MANAGEMENT: ("smp.zephyr_management", "ZEPHYRBASIC_MGMT_ERR"),
        64: ("smp.user.intercreate", "IC_MGMT_ERR"),
    }.get(group)
    if where is None:
        return None
    try:
        enum = getattr(importlib.import_module(where[0]), where[1])
        return str(enum(rc).name)
    except (ImportError, AttributeError, ValueError):
        return None


def explain(code: SmpErrorCode) -> tuple[str, str | None]:
    """(sentence, hint) for one error code."""
    if code.group is None:
        known = GENERAL.get(code.rc)
        if known is not None:
            return known
        if code.rc >= MGMT_ERR.EPERUSER:
            return f"the device reported its own error {code.rc}", "see the device's documentation"
        return f"the device reported SMP error {code.rc}", "see the device log"
    table = GROUPS.get(code.group)
    if table is not None and code.rc in table:
        return table[code.rc]
    group_name = GROUP_NAMES.get(code.group, f"group {code.group}")
    name = _enum_name(code.group, code.rc)
    if name is not None:
        return f"the device's {group_name} manager answered: {_humanize(name)}", None
    return f"the device's {group_name} manager reported error {code.rc}", "see the device log"


#: Request class name -> what the person asked the device to do.
ACTIONS: dict[str, str] = {
    "EchoWrite": "echo",
    "ResetWrite": "reset",
    "MCUMgrParametersRead": "reading the device's parameters",
    "ImageUploadWrite": "upload",
    "ImageStatesRead": "reading the image states",
    "ImageStatesWrite": "changing the image state",
    "ImageErase": "erasing the slot",
    "SlotsRead": "reading the slots",
    "ActivateWrite": "putting the bundle on trial",
    "ConfirmWrite": "confirm",
    "RollbackWrite": "rollback",
    "SelfTestWrite": "health check",
    "StreamWrite": "setting the telemetry rate",
    "InfoRead": "reading the device info",
    "InferWrite": "inference",
    "InferResultRead": "reading the inference result",
    # Stock MCUmgr groups (devices/serial/stock.py, fs.py).
    "OSApplicationInfoRead": "reading the OS info",
    "BootloaderInformationRead": "reading the bootloader info",
    "BootloaderModeRead": "reading MCUboot's mode",
    "ListSupportedGroups": "listing the device's groups",
    "GroupDetails": "reading the group details",
    "FileUploadResume": "writing the file",
    "FileDownload": "reading the file",
    "FileStatus": "reading the file's size",
    "FileHashChecksum": "hashing the file on the device",
    "SupportedFileHashChecksumTypes": "listing the device's hash types",
    "ListOfGroups": "listing the statistics groups",
    "GroupData": "reading statistics",
    "Execute": "the shell command",
}


def action_of(request: Any) -> str:
    name = request if isinstance(request, str) else type(request).__name__
    if name in ACTIONS:
        return ACTIONS[name]
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def sentence(code: SmpErrorCode, action: str) -> tuple[str, str | None]:
    """``"<action> refused: <sentence>[ (device says: <reason>)]"`` and a hint."""
    what, hint = explain(code)
    text = f"{action} refused: {what}"
    if code.reason and code.reason.lower() not in what.lower():
        text += f" (device says: {code.reason})"
    return text, hint


def device_error(answer: Any, *, action: str, subject: str) -> DeviceError:
    """The :class:`DeviceError` for an SMP error answer (or anything smpclient raised)."""
    code = code_of(answer)
    if code is None:
        text = str(answer).strip() or type(answer).__name__
        if "mismatched SHA256" in text:
            return DeviceError(
                f"{action} failed: the device's hash of the received bytes does not match "
                "the bundle's",
                subject=subject,
                hint="the link corrupted data; check the cable and flash again",
            )
        # Not an error answer: keep it short, never a pydantic dump.
        first = text.splitlines()[0][:160]
        return DeviceError(f"{action} failed: {first}", subject=subject, hint="see the device log")
    what, hint = sentence(code, action)
    error = DeviceError(what, subject=subject, hint=hint)
    error.smp_code = code  # type: ignore[attr-defined]  # for callers that branch on it
    return error
