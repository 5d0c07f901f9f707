"""The virtual device's SMP server, frame in / frame out (no pty): protocol, hostile
frames, resumable upload, and power loss at every persistent write."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cbor2
import pytest
from smp import header as smphdr
from smp import image_management as smpimg
from smp import os_management as smpos

from edgeconsole.core.atomic import WRITE_STEPS
from edgeconsole.core.slots import SlotState
from edgeconsole.devices.serial import appgroup as app
from edgeconsole.sim.device_model import SelfTestResult, factory_image
from edgeconsole.sim.smp_app import APP_GROUP_ID
from edgeconsole.sim.smp_server import DeviceHooks, SmpServer
from edgeconsole.sim.storage import DeviceStorage, PowerLoss, PowerRail

FACTORY, FACTORY_ID = factory_image()


class Hooks(DeviceHooks):
    def __init__(self) -> None:
        self.resets = 0

    def request_reset(self) -> None:
        self.resets += 1

    def self_test(self, slot: int) -> SelfTestResult:
        return SelfTestResult(True, "ok")


def make(tmp: Path, rail: PowerRail | None = None) -> SmpServer:
    storage = DeviceStorage(tmp, rail)
    storage.boot(FACTORY, FACTORY_ID)
    return SmpServer(storage, buf_size=1024, hooks=Hooks())


def body(frame: bytes | None) -> dict:
    assert frame is not None
    return cbor2.loads(frame[8:])


def upload_requests(data: bytes, chunk: int = 700) -> list[bytes]:
    sha = hashlib.sha256(data).digest()
    reqs = [smpimg.ImageUploadWriteRequest(off=0, data=data[:chunk], len=len(data), sha=sha)]
    for off in range(chunk, len(data), chunk):
        reqs.append(smpimg.ImageUploadWriteRequest(off=off, data=data[off : off + chunk]))
    return [r.BYTES for r in reqs]


def test_echo_params_info(tmp_path: Path) -> None:
    s = make(tmp_path)
    assert body(s.handle(smpos.EchoWriteRequest(d="hi").BYTES)) == {"r": "hi"}
    assert body(s.handle(smpos.MCUMgrParametersReadRequest().BYTES))["buf_size"] == 1024
    info = body(s.handle(app.InfoRead().BYTES))
    assert info["app_group"] == APP_GROUP_ID == app.APP_GROUP_ID
    resp = s.handle(smpos.ResetWriteRequest().BYTES)
    assert resp is not None and s.hooks.resets == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 7,
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 50, 0, 1, 0)),
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 1, 0, 1, 0))
        + b"\xff",
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 1, 0, 1, 0))
        + b"\x01",
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 1, 999, 1, 9))
        + b"\xa0",
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 1, 1, 1, 1))
        + b"\xa0",
        bytes(smphdr.Header(smphdr.OP.WRITE_RSP, smphdr.Version.V2, smphdr.Flag(0), 1, 0, 1, 0))
        + b"\xa0",
        bytes(smphdr.Header(smphdr.OP.WRITE, smphdr.Version.V2, smphdr.Flag(0), 9, 65, 1, 1))
        + cbor2.dumps({"slot": "x"}),
    ],
)
def test_hostile_frames_get_errors_or_silence_never_crash(tmp_path: Path, frame: bytes) -> None:
    s = make(tmp_path)
    before = s.storage.table
    out = s.handle(frame)
    if out is not None:
        answer = body(out)
        assert "err" in answer or "rc" in answer
    assert s.storage.table == before  # nothing changed on flash


def test_upload_resume_and_hash_match(tmp_path: Path) -> None:
    s = make(tmp_path)
    data = os.urandom(5000)
    reqs = upload_requests(data)
    assert body(s.handle(reqs[0]))["off"] == 700
    assert body(s.handle(reqs[1]))["off"] == 1400
    # A new session with the same sha (after a cut) continues at the device's offset.
    assert body(s.handle(reqs[0]))["off"] == 1400
    # A chunk at the wrong offset is answered with where the device is.
    assert body(s.handle(reqs[4]))["off"] == 1400
    for r in reqs[2:]:
        last = body(s.handle(r))
    assert last == {"off": 5000, "match": True}
    table = s.storage.table
    assert table.slot(1).state is SlotState.STAGED and table.running == 0
    assert s.storage.read_payload(1) == data


def test_upload_hash_mismatch_is_refused(tmp_path: Path) -> None:
    s = make(tmp_path)
    data = os.urandom(2000)
    reqs = upload_requests(data)
    bad = smpimg.ImageUploadWriteRequest(off=700, data=b"\x00" * 700).BYTES
    s.handle(reqs[0])
    s.handle(bad)
    last = body(s.handle(reqs[2]))
    assert last == {"off": 2000, "match": False}
    assert s.storage.table.slot(1).state is SlotState.BAD


def test_running_slot_is_never_written(tmp_path: Path) -> None:
    s = make(tmp_path)
    before = s.storage.read_payload(0)
    for data in (os.urandom(900), os.urandom(1200)):
        for r in upload_requests(data):
            s.handle(r)
    assert s.storage.read_payload(0) == before
    assert s.storage.table.running == 0


def test_image_state_test_and_confirm(tmp_path: Path) -> None:
    s = make(tmp_path)
    data = os.urandom(1500)
    for r in upload_requests(data):
        s.handle(r)
    digest = hashlib.sha256(data).digest()
    st = body(s.handle(smpimg.ImageStatesWriteRequest(hash=digest).BYTES))
    pending = [i for i in st["images"] if i.get("pending")]
    assert pending and pending[0]["slot"] == 1 and pending[0].get("active")
    st = body(s.handle(smpimg.ImageStatesWriteRequest(confirm=True).BYTES))
    assert [i["slot"] for i in st["images"] if i.get("confirmed")] == [1]


def flow(s: SmpServer, data: bytes) -> None:
    for r in upload_requests(data):
        s.handle(r)
    slot = next(x.index for x in s.storage.table.slots if x.state is SlotState.STAGED)
    s.handle(app.ActivateWrite(slot=slot, bundle_id="new", bundle_version=2).BYTES)
    s.handle(app.SelfTestWrite(slot=slot).BYTES)
    s.handle(app.ConfirmWrite(slot=slot).BYTES)


def test_power_loss_at_every_persistent_write(tmp_path: Path) -> None:
    data = os.urandom(3000)
    # Count the writes of a clean run (first boot with factory install + one update).
    rail = PowerRail()
    flow(make(tmp_path / "count", rail), data)
    total = rail.writes
    assert total >= 8
    cases = 0
    for n in range(1, total + 1):
        for phase in WRITE_STEPS:
            d = tmp_path / f"{n}-{phase}"
            rail = PowerRail(fail_at=n, phase=phase)
            try:
                flow(make(d, rail), data)
            except PowerLoss:
                pass
            # Power back: a fresh boot from whatever reached the disk.
            storage = DeviceStorage(d)
            table = storage.boot(FACTORY, FACTORY_ID)
            assert table.confirmed is not None
            assert storage.payload_ok(table.confirmed), (n, phase)
            assert storage.payload_ok(table.running)  # type: ignore[arg-type]
            # And the update can be run again to the end.
            s = SmpServer(storage, buf_size=1024, hooks=Hooks())
            if s.storage.table.trial is not None:
                s.storage.slots.apply(lambda t: t.rollback())
            flow(s, data)
            final = s.storage.table
            assert final.slot(final.confirmed).sha256 == hashlib.sha256(data).hexdigest()  # type: ignore[arg-type]
            cases += 1
    assert cases == total * len(WRITE_STEPS)
