"""Standard MCUmgr requests where the ``smp`` package's answer models and Zephyr disagree.

Everything else is ``smpclient.requests`` as it is. Here, each class is the
``smp`` request with an answer model that accepts what Zephyr really sends:

- Bootloader info ``query="mode"``: Zephyr answers ``{"mode": N,
  "no-downgrade": true}`` (``os_mgmt.c``); ``smp`` requires a ``bootloader``
  key there, so the real answer would not parse.
- File upload: Zephyr's ``FILE_OFFSET_NOT_VALID`` error carries the device's
  current ``len`` next to ``err`` (``fs_mgmt.c``): the resume point. ``smp``'s
  error model forbids the extra key.

(An image upload answer with a legacy ``rc`` and no ``off`` parses as a
success in ``smp``; the upload loop in ``firmware.py`` treats it as the error
it is.)
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict
from smp import file_management as smpfs
from smp import os_management as smpos
from smpclient.requests.file_management import FileUpload


class BootloaderModeResponse(smpos.BootloaderInformationReadResponse):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    bootloader: str = ""
    mode: int | None = None


class BootloaderModeRead(smpos.BootloaderInformationReadRequest):
    _Response = BootloaderModeResponse
    _ErrorV1 = smpos.OSManagementErrorV1
    _ErrorV2 = smpos.OSManagementErrorV2

    @staticmethod
    def no_downgrade(answer: Any) -> bool | None:
        extra = getattr(answer, "model_extra", None) or {}
        value = extra.get("no-downgrade")
        return bool(value) if value is not None else None


class FileUploadErrorV2(smpfs.FileSystemManagementErrorV2):
    model_config = ConfigDict(extra="allow", frozen=True)
    len: int | None = None


class FileUploadResume(FileUpload):
    """A file upload whose offset-mismatch answer tells where the device is."""

    _ErrorV2 = FileUploadErrorV2
