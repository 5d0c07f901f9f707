"""The one mapping from SMP error codes to sentences (devices/serial/smp_errors.py)."""

from __future__ import annotations

import importlib
from enum import IntEnum

import cbor2
import pytest
from smp import header as smphdr
from smp.error import MGMT_ERR
from smp.image_management import IMG_MGMT_ERR, ImageManagementErrorV2
from smpclient.requests.image_management import ImageUploadWrite

from edgeconsole.devices.serial import appgroup, smp_errors
from edgeconsole.devices.serial.smp_errors import SmpErrorCode, explain

GROUP_ENUMS: list[tuple[int, type[IntEnum]]] = [
    (smphdr.GroupId.IMAGE_MANAGEMENT, IMG_MGMT_ERR),
    (appgroup.APP_GROUP_ID, appgroup.APP_ERR),
]
for group, module, name in (
    (smphdr.GroupId.OS_MANAGEMENT, "smp.os_management", "OS_MGMT_RET_RC"),
    (smphdr.GroupId.FILE_MANAGEMENT, "smp.file_management", "FS_MGMT_ERR"),
    (smphdr.GroupId.STATISTICS_MANAGEMENT, "smp.statistics_management", "STAT_MGMT_ERR"),
    (smphdr.GroupId.SETTINGS_MANAGEMENT, "smp.settings_management", "SETTINGS_MGMT_ERR"),
    (smphdr.GroupId.ENUM_MANAGEMENT, "smp.enumeration_management", "ENUM_MGMT_ERR"),
    (smphdr.GroupId.TRANSPORT_MANAGEMENT, "smp.transport_management", "TRANSPORT_MGMT_ERR"),
    (smphdr.GroupId.ZEPHYR_MANAGEMENT, "smp.zephyr_management", "ZEPHYRBASIC_MGMT_ERR"),
    (64, "smp.user.intercreate", "IC_MGMT_ERR"),
):
    GROUP_ENUMS.append((group, getattr(importlib.import_module(module), name)))


def _is_sentence(text: str) -> bool:
    return (
        text[:1].islower()
        and len(text.split()) >= 3
        and not any(raw in text for raw in ("<", "Header(", "ERR.", "None", "_"))
    )


@pytest.mark.parametrize("rc", [c for c in MGMT_ERR if c is not MGMT_ERR.EOK])
def test_every_general_code_is_a_sentence(rc: MGMT_ERR) -> None:
    what, _hint = explain(SmpErrorCode(None, int(rc)))
    assert _is_sentence(what), (rc, what)
    assert "SMP error" not in what  # a listed code, not the fallback


@pytest.mark.parametrize(
    ("group", "rc"),
    [(g, int(c)) for g, enum in GROUP_ENUMS for c in enum if int(c) != 0],
)
def test_every_group_code_is_a_sentence(group: int, rc: int) -> None:
    what, _hint = explain(SmpErrorCode(group, rc))
    assert _is_sentence(what), (group, rc, what)


def test_unknown_codes_still_name_group_and_number() -> None:
    assert explain(SmpErrorCode(None, 999))[0] == "the device reported its own error 999"
    what, _ = explain(SmpErrorCode(200, 7))
    assert "group 200" in what and "7" in what
    what, _ = explain(SmpErrorCode(smphdr.GroupId.IMAGE_MANAGEMENT, 250))
    assert "image" in what and "250" in what


def test_a_real_v2_error_answer_becomes_the_sentence_with_the_device_reason() -> None:
    req = ImageUploadWrite(off=0, data=b"", len=10, sha=b"\0" * 32)
    body = cbor2.dumps({"err": {"group": 1, "rc": int(IMG_MGMT_ERR.NO_FREE_SLOT)}})
    head = smphdr.Header(smphdr.OP.WRITE_RSP, smphdr.Version.V2, smphdr.Flag(0), len(body), 1, 3, 1)
    answer = ImageManagementErrorV2.loads(bytes(head) + body)  # as it comes off the wire
    err = smp_errors.device_error(answer, action=smp_errors.action_of(req), subject="/dev/ttyX")
    assert str(err).startswith("/dev/ttyX: upload refused: the device has no free slot")
    assert "edgeconsole confirm" in (err.hint or "")


def test_text_and_unknown_objects_are_one_short_line() -> None:
    err = smp_errors.device_error(
        "No offset received: response=" + "x" * 500 + "\nmore", action="upload", subject="p"
    )
    assert "\n" not in str(err) and len(str(err)) < 260
    err = smp_errors.device_error(
        "Upload failed, server reported mismatched SHA256: ...", action="upload", subject="p"
    )
    assert "hash of the received bytes does not match" in str(err)
