"""Fault tests of issue 4 over real pseudo-terminals: cuts, bit flips, garbage,
reboot and power loss mid-upload, unplug during read and write, port busy."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.flash import SerialFlashJob, upload_with_resume
from edgeconsole.devices.target import FlashProgress, Payload
from edgeconsole.sim.device import FaultPlan, VirtualSerialDevice
from edgeconsole.sim.device_model import factory_image
from edgeconsole.sim.storage import PowerRail
from tests.fixtures.sources import wait_for

FACTORY_ID = factory_image()[1]

Make = Callable[..., VirtualSerialDevice]
Connect = Callable[..., SerialTarget]


def payload(size: int, seed: int = 0) -> Payload:
    data = random.Random(seed).randbytes(size)
    return Payload(data, hashlib.sha256(data).hexdigest(), "test-bundle", 2)


def test_cut_at_22_seeded_offsets_resumes_and_old_bundle_runs(
    serial_device: Make, serial_target: Connect
) -> None:
    p = payload(150_000)
    wire_total = int(len(p.data) * 1.40)  # base64 + framing: the request bytes on the wire
    rng = random.Random(22)
    offsets = sorted(rng.sample(range(200, wire_total), 20))
    # Two cuts inside the first upload frame (about 2.8 kB of lines): mid-frame for sure.
    offsets = sorted({*offsets, 60, 1500})
    dev = serial_device()
    t = serial_target(dev, timeout_s=1.0)
    base = dev.rx_bytes  # request bytes of connecting/identifying
    cuts = [base + o for o in offsets]
    dev.faults.cut_at_rx.extend(cuts)
    seen: list[FlashProgress] = []
    slot = upload_with_resume(t, p, seen.append)
    assert dev.faults.cut_at_rx == []  # every cut happened
    assert len(t.disconnects) == len(cuts)  # one Disconnected event per unplug
    assert seen[-1].resumes >= len(cuts)
    # Resumed, not restarted: offsets never went back to zero after progress was made.
    offs = [s.sent for s in seen]
    assert all(b >= a for a, b in itertools.pairwise(offs))
    # The device hashed the slot itself; the running bundle is still the old one.
    slots = t.slots()
    assert slots[slot].state == "staged" and slots[slot].sha256 == p.sha256
    running = next(s for s in slots if s.running)
    assert running.index != slot and running.bundle_id == FACTORY_ID
    assert dev.storage.read_payload(slot) == p.data
    # Until confirmed, the new bundle does not become the fallback.
    t.activate(slot, p)
    assert t.self_test(slot).passed
    assert next(s for s in t.slots() if s.confirmed).index != slot
    assert next(s for s in t.confirm(slot) if s.confirmed).index == slot


def test_bit_flips_and_garbage_both_directions(serial_device: Make, serial_target: Connect) -> None:
    p = payload(60_000, seed=1)
    plan = FaultPlan(
        flip_rx=FaultPlan.random_flips(6, 500, 80_000, seed=5),
        flip_tx=FaultPlan.random_flips(4, 300, 6_000, seed=6),
        garbage_tx_every=7,
        seed=7,
    )
    dev = serial_device(faults=plan)
    t = serial_target(dev, timeout_s=0.4)
    slot = upload_with_resume(t, p)
    assert dev.storage.read_payload(slot) == p.data  # nothing corrupt was accepted
    rejected_on_device = dev.decoder.stats.bad_crc + dev.decoder.stats.bad_base64
    ts = t.transport.stats
    rejected_on_host = ts.bad_crc + ts.bad_base64 + ts.orphan + ts.oversized
    assert rejected_on_device + rejected_on_host > 0


def test_reboot_mid_upload_restarts_correctly(serial_device: Make, serial_target: Connect) -> None:
    p = payload(80_000, seed=2)
    dev = serial_device(faults=FaultPlan(reboot_at_rx=[40_000]))
    t = serial_target(dev, timeout_s=1.0)
    seen: list[FlashProgress] = []
    slot = upload_with_resume(t, p, seen.append)
    assert dev.boots == 2 and len(t.disconnects) == 1
    offs = [s.sent for s in seen if s.phase == "upload"]
    # RAM upload state died with the reboot: the device restarted it from the beginning.
    assert any(b < a for a, b in itertools.pairwise(offs))
    assert dev.storage.read_payload(slot) == p.data
    assert next(s for s in t.slots() if s.running).bundle_id == FACTORY_ID


def test_power_loss_during_flash_keeps_a_confirmed_bundle(
    serial_device: Make, serial_target: Connect
) -> None:
    p = payload(20_000, seed=3)
    # Write 1-3 are the factory install at first boot; 4 = begin staging, 5 = payload
    # sync, 6 = staged, 7 = trial, 8 = confirm. Cut during the trial activation.
    dev = serial_device(faults=FaultPlan(power=PowerRail(fail_at=7, phase="rename")))
    t = serial_target(dev, timeout_s=1.0)
    slot = upload_with_resume(t, p)
    with pytest.raises((DeviceDisconnected, DeviceError)):
        t.activate(slot, p)
    # The link drops at the power cut; the device finishes its reboot a moment later.
    assert wait_for(lambda: dev.boots == 2, timeout=10)
    t.reconnect(10)
    slots = t.slots()
    running = next(s for s in slots if s.running)
    assert running.confirmed and dev.storage.payload_ok(running.index)
    # Safe to repeat: the whole flash goes through afterwards.
    result = SerialFlashJob(t, p).run()
    assert result.confirmed and dev.storage.payload_ok(result.slot)


def test_selftest_failure_rolls_back_automatically(
    serial_device: Make, serial_target: Connect
) -> None:
    dev = serial_device()
    dev.selftest_fail = True
    t = serial_target(dev)
    with pytest.raises(DeviceError, match="rolled back"):
        SerialFlashJob(t, payload(5000, seed=4)).run()
    slots = t.slots()
    assert next(s for s in slots if s.running).bundle_id == FACTORY_ID
    assert any(s.state == "bad" for s in slots)


def test_unplug_during_read_is_one_disconnected_then_reconnect(
    serial_device: Make, serial_target: Connect
) -> None:
    dev = serial_device()
    t = serial_target(dev)
    events: list[str] = []
    t.on_disconnect = events.append
    # The device vanishes after reading the request, before answering: the host is reading.
    dev.faults.cut_at_rx.append(dev.rx_bytes + 10)
    with pytest.raises(DeviceDisconnected):
        t.echo("x" * 40)
    assert len(events) == 1
    assert t.reconnect(10) is not None
    assert t.echo("back") == "back"
    assert len(events) == 1


def test_unplug_during_write_is_one_disconnected(
    serial_device: Make, serial_target: Connect
) -> None:
    dev = serial_device(buf_size=16384)
    t = serial_target(dev)
    # A large request; the device stops reading (unplugs) after 300 bytes of it, while
    # the host is still writing the rest.
    dev.faults.cut_at_rx.append(dev.rx_bytes + 300)
    with pytest.raises(DeviceDisconnected):
        t.echo("y" * 12000)
    assert len(t.disconnects) == 1
    t.reconnect(10)
    assert t.echo("ok") == "ok"


@pytest.mark.parametrize(
    "exc",
    [
        __import__("serial").SerialException(
            "device reports readiness to read but returned no data"
        ),
        OSError(5, "Input/output error"),
        __import__("termios").error(5, "Input/output error"),
    ],
)
def test_every_pyserial_unplug_form_is_one_event(
    serial_device: Make, serial_target: Connect, exc: BaseException
) -> None:
    dev = serial_device()
    t = serial_target(dev)
    port = t.transport.port
    assert port is not None

    class Unplugged(type(port)):  # type: ignore[misc]
        # The exact exception forms pyserial raises after an unplug (DESIGN section 9),
        # on a real open port; is_open stays true, as it does in pyserial.
        @property
        def in_waiting(self) -> int:
            raise exc

    port.__class__ = Unplugged
    t.io.loop.call_soon_threadsafe(t.transport._readable)
    with pytest.raises(DeviceDisconnected):
        t.echo("z")
    t.io.loop.call_soon_threadsafe(t.transport._readable)
    assert len(t.disconnects) == 1 and type(exc).__name__ in t.disconnects[0]


def test_port_already_open_is_explained(serial_device: Make, serial_target: Connect) -> None:
    dev = serial_device()
    serial_target(dev)
    second = SerialTarget(str(dev.path), timeout_s=0.5)
    try:
        with pytest.raises(DeviceError, match="already open") as info:
            second.connect()
        assert "close that program" in str(info.value)
    finally:
        second.close()


def test_plain_csv_device_connects_for_telemetry_only() -> None:
    import threading

    master, slave = os.openpty()
    path = os.ttyname(slave)
    stop = threading.Event()

    def arduino() -> None:
        i = 0
        while not stop.wait(0.005):
            os.write(master, f"{i},{i * 2}\n".encode())
            i += 1

    th = threading.Thread(target=arduino, daemon=True)
    th.start()
    t = SerialTarget(path, timeout_s=0.3)
    try:
        info = t.connect()
        assert info is not None and not t.smp and "telemetry only" in info.name
        with pytest.raises(DeviceError, match="does not speak SMP"):
            t.slots()
        got: list[Any] = []
        assert _wait(lambda: got.extend(t.text.drain()) or sum(len(d) for _, d in got) > 40)
    finally:
        stop.set()
        th.join()
        t.close()
        os.close(master)
        os.close(slave)


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    import threading
    import time

    deadline = time.monotonic() + timeout
    ev = threading.Event()
    while time.monotonic() < deadline:
        if cond():
            return True
        ev.wait(0.01)
    return False
