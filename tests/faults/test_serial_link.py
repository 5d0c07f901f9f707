"""Serial faults through the harness: the pty proxy sits between the console
(SerialTarget) and the virtual device, and breaks the link on the laptop side of the
cable (the device's own fault plan covers its side, tests/devices/test_serial_faults.py).
Every fault is seeded; the seed is in the failure report."""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from collections.abc import Callable

import pytest

from edgeconsole.core.errors import DeviceDisconnected, DeviceError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.flash import upload_with_resume
from edgeconsole.devices.target import FlashProgress, Payload
from edgeconsole.sim.device import VirtualSerialDevice
from tests.faults.proxy import PtyFaultProxy

Make = Callable[..., VirtualSerialDevice]
Proxy = Callable[..., PtyFaultProxy]
Link = Callable[..., tuple[VirtualSerialDevice, PtyFaultProxy, SerialTarget]]


def payload(size: int, seed: int) -> Payload:
    data = random.Random(seed).randbytes(size)
    return Payload(data, hashlib.sha256(data).hexdigest(), "fault-bundle", 2)


@pytest.fixture
def link(
    serial_device: Make, pty_fault_proxy: Proxy
) -> Callable[..., tuple[VirtualSerialDevice, PtyFaultProxy, SerialTarget]]:
    opened: list[SerialTarget] = []

    def make(
        seed: int, timeout_s: float = 1.0, **dev_kw: object
    ) -> tuple[VirtualSerialDevice, PtyFaultProxy, SerialTarget]:
        dev = serial_device(**dev_kw)
        proxy = pty_fault_proxy(dev.path, seed=seed)
        t = SerialTarget(str(proxy.path), timeout_s=timeout_s)
        t.connect()
        opened.append(t)
        return dev, proxy, t

    yield make
    for t in opened:
        t.close()


def test_cable_cuts_on_the_laptop_side_resume_the_upload(link: Link) -> None:
    dev, proxy, t = link(seed=41)
    p = payload(60_000, seed=41)
    rng = random.Random(proxy.plan.seed)  # EDGECONSOLE_FAULT_SEED moves the cuts too
    cuts = sorted(rng.sample(range(500, 70_000), 6))
    seen: list[FlashProgress] = []
    proxy.plan.cut_at([proxy.plan.offset("up") + c for c in cuts])
    slot = upload_with_resume(t, p, seen.append)
    assert proxy.cuts == len(cuts) and len(t.disconnects) == len(cuts)
    assert dev.storage.read_payload(slot) == p.data
    offs = [s.sent for s in seen if s.phase == "upload"]
    assert all(b >= a for a, b in itertools.pairwise(offs))  # resumed, never restarted


@pytest.mark.slow  # ~10 s: every corrupted frame costs a 0.5 s timeout
def test_flips_and_duplicates_both_ways_never_store_corrupt_data(link: Link) -> None:
    dev, proxy, t = link(seed=7, timeout_s=0.5)
    # One flip at a seeded offset of the request stream for sure, more at a rate.
    at = proxy.plan.offset("up") + random.Random(proxy.plan.seed).randrange(1_000, 60_000)
    proxy.plan.flip("both", rate=1 / 20_000).flip("up", rate=1 / 20_000, at=[at])
    proxy.plan.duplicate("both", rate=1 / 40_000, max_len=16)
    p = payload(50_000, seed=7)
    slot = upload_with_resume(t, p)
    assert proxy.plan.count("flip") >= 1
    assert dev.storage.read_payload(slot) == p.data
    proxy.plan.clear()
    assert t.echo("clean again") == "clean again"


def test_a_stalled_link_times_out_plainly_and_recovers(link: Link) -> None:
    _dev, proxy, t = link(seed=3, timeout_s=0.5)
    assert t.echo("before") == "before"
    proxy.plan.stall("down")  # the device's answers stop; nothing is closed
    t0 = time.monotonic()
    with pytest.raises((DeviceError, TimeoutError)) as info:
        t.echo("during")
    assert time.monotonic() - t0 < 10
    assert not isinstance(info.value, DeviceDisconnected)  # it is not an unplug
    # It answered a moment ago, so the hint is about the link, not the baud rate.
    assert "answered before" in str(info.value), info.value
    proxy.plan.clear()
    for _ in range(5):  # the late answer may still be in flight: the link settles
        try:
            if t.echo("after") == "after":
                break
        except (DeviceError, TimeoutError):
            continue
    else:
        pytest.fail("the link did not recover after the stall")


def test_a_slow_link_still_completes(link: Link) -> None:
    dev, proxy, t = link(seed=5, timeout_s=2.0)
    proxy.plan.delay(0.01)
    p = payload(8_000, seed=5)
    slot = upload_with_resume(t, p)
    assert dev.storage.read_payload(slot) == p.data
