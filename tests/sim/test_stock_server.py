"""The stock device's SMP server, frame by frame: Zephyr's answers and hostile requests.

Requests are built with ``smpclient``'s request classes (the same bytes smpmgr
sends); answers are parsed with ``smp``'s response classes.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import cbor2
import pytest
from smp import header as smphdr
from smp.error import MGMT_ERR
from smp.file_management import FS_MGMT_ERR
from smpclient.requests.enumeration_management import (
    CountSupportedGroups,
    GroupDetails,
    GroupId,
    ListSupportedGroups,
)
from smpclient.requests.file_management import (
    FileDownload,
    FileHashChecksum,
    FileStatus,
    FileUpload,
    SupportedFileHashChecksumTypes,
)
from smpclient.requests.image_management import ImageStatesRead, ImageUploadWrite
from smpclient.requests.os_management import (
    BootloaderInformationRead,
    EchoWrite,
    OSApplicationInfoRead,
)
from smpclient.requests.shell_management import Execute
from smpclient.requests.statistics_management import GroupData, ListOfGroups

from edgeconsole.devices.serial.mcuboot import Version
from edgeconsole.devices.serial.mcumgr import BootloaderModeRead
from edgeconsole.sim.mcuboot_build import app_body, build_image
from edgeconsole.sim.mcuboot_flash import McubootFlash
from edgeconsole.sim.stock_fs import SimFileSystem
from edgeconsole.sim.stock_server import GROUP_NAMES, StockServer


def server(tmp_path: Path, buf_size: int = 512, groups: Any = None, **kw: Any) -> StockServer:
    flash = McubootFlash(tmp_path / "flash", **kw)
    flash.install_factory(build_image(app_body("f", Version(1, 0, 0), 2048), Version(1, 0, 0)))
    flash.boot()
    fs = SimFileSystem(tmp_path / "fs", capacity=64 * 1024)
    return StockServer(
        flash,
        fs,
        buf_size=buf_size,
        groups=frozenset(groups or GROUP_NAMES),
        shell_stop=threading.Event(),
    )


def ask(s: StockServer, req: Any) -> Any:
    out = s.handle(req.BYTES)
    assert out is not None
    for cls in (req._Response, req._ErrorV1, req._ErrorV2):
        try:
            return cls.loads(out)
        except Exception:
            continue
    raise AssertionError(cbor2.loads(out[8:]))


def raw_body(s: StockServer, req: Any) -> dict[str, Any]:
    out = s.handle(req.BYTES)
    assert out is not None
    return cbor2.loads(out[8:])  # type: ignore[no-any-return]


def test_os_group_like_zephyr(tmp_path: Path) -> None:
    s = server(tmp_path)
    assert ask(s, EchoWrite(d="hi")).r == "hi"
    assert ask(s, OSApplicationInfoRead()).output == "Zephyr"
    assert ask(s, OSApplicationInfoRead(format="i")).output == "edgeconsole_sim"
    assert "arm" in ask(s, OSApplicationInfoRead(format="a")).output
    bad = ask(s, OSApplicationInfoRead(format="sz"))
    assert bad.err.rc == 2  # INVALID_FORMAT
    assert ask(s, BootloaderInformationRead()).bootloader == "MCUboot"
    mode = ask(s, BootloaderModeRead(query="mode"))
    assert mode.mode == 3 and BootloaderModeRead.no_downgrade(mode) is None
    assert raw_body(s, BootloaderModeRead(query="mode")) == {"mode": 3}  # Zephyr's exact answer
    assert ask(s, BootloaderInformationRead(query="what")).err.rc == 3


def test_image_state_reports_zephyr_flags(tmp_path: Path) -> None:
    s = server(tmp_path)
    body = raw_body(s, ImageStatesRead())
    assert body["splitStatus"] == 0
    (img,) = body["images"]
    assert img["slot"] == 0 and img["version"] == "1.0.0"
    assert img["active"] and img["confirmed"] and img["bootable"] and not img["pending"]


def test_enumeration(tmp_path: Path) -> None:
    s = server(tmp_path, groups={0, 1, 8, 10})
    assert ask(s, CountSupportedGroups()).count == 4
    assert list(ask(s, ListSupportedGroups()).groups) == [0, 1, 8, 10]
    last = ask(s, GroupId(index=3))
    assert last.group == 10 and last.end
    assert ask(s, GroupId(index=4)).err.rc == 4  # index too large
    names = {d.group: d.name for d in ask(s, GroupDetails()).groups}
    assert names == {0: "os", 1: "img", 8: "fs", 10: "enum"}
    # A group the firmware lacks answers ENOTSUP, as Zephyr does.
    assert ask(s, ListOfGroups()).rc == MGMT_ERR.ENOTSUP
    assert ask(s, Execute(argv=["help"])).rc == MGMT_ERR.ENOTSUP


def test_stats_and_shell(tmp_path: Path) -> None:
    s = server(tmp_path)
    assert "smp_svr_stats" in ask(s, ListOfGroups()).stat_list
    data = ask(s, GroupData(name="smp_link"))
    assert data.fields["rx_frames"] >= 1
    assert ask(s, GroupData(name="nope")).err.rc == 2
    out = ask(s, Execute(argv=["echo", "a", "b"]))
    assert (out.o, out.ret) == ("a b", 0)
    assert ask(s, Execute(argv=["nope"])).ret == -8
    big = ask(s, Execute(argv=["echo", "x" * 2000]))
    assert len(big.o) < 512  # what fits the buffer, as the dummy backend keeps


@pytest.mark.parametrize(
    "name,rc",
    [
        ("/lfs1/../../etc/passwd", FS_MGMT_ERR.FILE_INVALID_NAME),
        ("/lfs1/a/./b", FS_MGMT_ERR.FILE_INVALID_NAME),
        ("/lfs1//x", FS_MGMT_ERR.FILE_INVALID_NAME),
        ("relative", FS_MGMT_ERR.FILE_INVALID_NAME),
        ("/lfs1/a\\b", FS_MGMT_ERR.FILE_INVALID_NAME),
        ("/other/x", FS_MGMT_ERR.MOUNT_POINT_NOT_FOUND),
        ("/lfs1/missing", FS_MGMT_ERR.FILE_NOT_FOUND),
        ("/lfs1", FS_MGMT_ERR.FILE_IS_DIRECTORY),
    ],
)
def test_hostile_file_names_never_leave_the_mount(tmp_path: Path, name: str, rc: int) -> None:
    s = server(tmp_path)
    assert ask(s, FileStatus(name=name)).err.rc == rc
    assert not (tmp_path / "etc").exists()


def test_long_and_nul_names(tmp_path: Path) -> None:
    s = server(tmp_path)
    assert ask(s, FileStatus(name="/lfs1/" + "a" * 100)).rc == MGMT_ERR.EINVAL
    assert ask(s, FileStatus(name="/lfs1/a\0b")).err.rc == FS_MGMT_ERR.FILE_INVALID_NAME


def test_file_upload_resume_rules(tmp_path: Path) -> None:
    s = server(tmp_path)
    data = bytes(range(256)) * 4
    assert ask(s, FileUpload(name="/lfs1/f", off=0, data=data[:300], len=len(data))).off == 300
    # A new session (after a reset, say) continues only at the file's size.
    s.rebooted()
    wrong = raw_body(s, FileUpload(name="/lfs1/f", off=200, data=data[200:400]))
    assert wrong == {"err": {"group": 8, "rc": FS_MGMT_ERR.FILE_OFFSET_NOT_VALID}, "len": 300}
    assert ask(s, FileUpload(name="/lfs1/f", off=300, data=data[300:])).off == len(data)
    assert ask(s, FileStatus(name="/lfs1/f")).len == len(data)
    h = ask(s, FileHashChecksum(name="/lfs1/f", type="sha256"))
    assert bytes(h.output) == hashlib.sha256(data).digest() and h.len == len(data)
    part = ask(s, FileHashChecksum(name="/lfs1/f", type="crc32", len=10))
    assert part.len == 10
    assert set(ask(s, SupportedFileHashChecksumTypes()).types) == {"crc32", "sha256"}
    got = ask(s, FileDownload(name="/lfs1/f", off=0))
    assert got.len == len(data) and data.startswith(bytes(got.data))
    assert ask(s, FileDownload(name="/lfs1/f", off=5000)).err.rc == 12


def test_a_full_file_system_refuses_instead_of_losing_data(tmp_path: Path) -> None:
    s = server(tmp_path)
    big = 70 * 1024
    answer = ask(s, FileUpload(name="/lfs1/big", off=0, data=b"x" * 100, len=big))
    assert answer.err.rc == FS_MGMT_ERR.FILE_WRITE_FAILED


def test_image_upload_checks_the_header_and_resumes(tmp_path: Path) -> None:
    s = server(tmp_path)
    img = build_image(app_body("n", Version(2, 0, 0), 3000), Version(2, 0, 0))
    sha = hashlib.sha256(img).digest()
    bad = ask(s, ImageUploadWrite(off=0, data=b"\0" * 64, len=len(img), sha=sha))
    assert bad.err.rc == 23  # header magic
    short = ask(s, ImageUploadWrite(off=0, data=img[:10], len=len(img), sha=sha))
    assert short.err.rc == 22
    old = ask(s, ImageUploadWrite(off=0, data=img[:100], len=len(img), sha=sha, upgrade=False))
    assert old.off == 100
    # The same sha and len again: the device says where it is.
    assert ask(s, ImageUploadWrite(off=0, data=img[:100], len=len(img), sha=sha)).off == 100
    assert ask(s, ImageUploadWrite(off=50, data=img[50:60])).off == 100
    over = ask(s, ImageUploadWrite(off=100, data=b"\0" * len(img)))
    assert over.err.rc == 31  # data beyond len
    down = build_image(b"x" * 100, Version(0, 1, 0))
    refused = ask(s, ImageUploadWrite(off=0, data=down, len=len(down), upgrade=True))
    assert refused.err.rc == 27  # current version is newer


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x02\x00\x00\x00\x00\x01\x00\x00",  # a read with no body and op 2 (a response)
        b"\x00\x00\x00\x05\x00\x00\x00\x00abc",  # length says 5, body is 3
        b"\x00\x00\x00\x03\x00\x00\x00\x00\xff\xff\xff",  # not CBOR
        b"\x00\x00\x00\x01\x00\x00\x00\x00\x01",  # CBOR, not a map
        b"\x18\x00\x00\x00\x00\x00\x00\x00",  # SMP version 3
    ],
)
def test_hostile_frames_get_an_error_or_silence(tmp_path: Path, frame: bytes) -> None:
    s = server(tmp_path)
    out = s.handle(frame)
    if out is not None:
        body = cbor2.loads(out[8:])
        assert body.get("rc") in (MGMT_ERR.EINVAL, MGMT_ERR.ENOTSUP), body


def test_an_answer_too_big_for_the_buffer_is_emsgsize(tmp_path: Path) -> None:
    s = server(tmp_path, buf_size=64)
    assert ask(s, ImageStatesRead()).rc == MGMT_ERR.EMSGSIZE


def test_v1_requests_get_v1_errors(tmp_path: Path) -> None:
    s = server(tmp_path)
    req = FileStatus(name="/lfs1/missing", version=smphdr.Version.V1)
    assert raw_body(s, req) == {"rc": MGMT_ERR.EUNKNOWN}
