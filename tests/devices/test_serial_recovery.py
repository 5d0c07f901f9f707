"""Serial recovery (issue 13, section 2): a device killed during its trial, a lost
probe frame, and SMP errors that reach a person. Real ptys: the virtual device
as a real ``edgeconsole sim serial`` process (killed with SIGKILL) or in-process
behind the fault harness's pty proxy (tests/faults)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgeconsole.core.errors import DeviceError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.flash import SerialFlashJob, upload_with_resume
from edgeconsole.devices.target import FlashProgress, Payload
from edgeconsole.sim.device import VirtualSerialDevice
from tests.faults.proxy import PtyFaultProxy
from tests.fixtures.serial import pull_plug

Make = Callable[..., VirtualSerialDevice]
Proxy = Callable[..., PtyFaultProxy]


def payload(size: int, seed: int, bundle_id: str = "recovery-bundle") -> Payload:
    """Opaque bytes: the device's health check is the hash check alone."""
    data = random.Random(seed).randbytes(size)
    return Payload(data, hashlib.sha256(data).hexdigest(), bundle_id, 2)


class SimProcess:
    """``edgeconsole sim serial`` as a child process on one data folder, killable with
    SIGKILL and started again on the same folder (a power cut, as the device sees it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[str] | None = None
        self.port = ""

    def start(self) -> str:
        cmd = [sys.executable, "-m", "edgeconsole", "sim", "serial", "--data-dir"]
        self.proc = subprocess.Popen(
            [*cmd, str(self.data_dir), "--rate", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        assert os.path.exists(self.port), self.port
        return self.port

    def kill9(self) -> None:
        assert self.proc is not None
        pull_plug(self.proc, self.data_dir / "tty")

    def stop(self) -> None:
        if self.proc is not None:
            pull_plug(self.proc, self.data_dir / "tty")


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path / "dev")
    yield sim
    sim.stop()


def _connect(port: str, timeout_s: float = 2.0) -> SerialTarget:
    t = SerialTarget(port, timeout_s=timeout_s)
    t.connect()
    return t


def _leave_on_trial(port: str, p: Payload) -> None:
    """A flash whose laptop side dies after the health check, before confirm."""

    def die_before_confirm(progress: FlashProgress) -> None:
        if progress.phase == "confirm":
            raise KeyboardInterrupt  # the laptop went away here

    t = _connect(port)
    try:
        with pytest.raises(KeyboardInterrupt):
            SerialFlashJob(t, p, progress=die_before_confirm).run()
        assert [s.state for s in t.slots()][1] == "trial"
    finally:
        t.close()


def test_kill_9_during_trial_then_the_same_flash_finishes_the_trial(
    sim_process: SimProcess,
) -> None:
    p = payload(20_000, seed=1)
    _leave_on_trial(sim_process.start(), p)
    sim_process.kill9()  # the device dies while the bundle is on trial
    t = _connect(sim_process.start())
    try:
        before = t.slots()[1]
        assert before.state == "trial" and before.attempts == 2  # the reboot spent one
        phases: list[str] = []
        result = SerialFlashJob(t, p, progress=lambda g: phases.append(g.phase)).run()
        assert result.confirmed and result.slot == 1
        assert "upload" not in phases  # the bytes were already there: not sent again
        assert any("finished that trial" in n for n in result.notes), result.notes
        slots = t.slots()
        assert slots[1].state == "confirmed" and slots[1].running and slots[1].confirmed
    finally:
        t.close()


def test_kill_9_during_trial_then_another_bundle_rolls_the_old_trial_back(
    sim_process: SimProcess,
) -> None:
    old, new = payload(20_000, seed=2, bundle_id="old-trial"), payload(9_000, seed=3)
    _leave_on_trial(sim_process.start(), old)
    sim_process.kill9()
    t = _connect(sim_process.start())
    try:
        result = SerialFlashJob(t, new).run()
        assert result.confirmed
        slots = t.slots()
        assert slots[result.slot].sha256 == new.sha256 and slots[result.slot].confirmed
        assert any("old-trial" in n and "rolled it back" in n for n in result.notes)
    finally:
        t.close()


def test_a_device_that_reboots_during_the_health_check_is_reconnected_and_finished(
    serial_device: Make,
) -> None:
    dev = serial_device()
    t = _connect(str(dev.path), timeout_s=1.0)
    p = payload(12_000, seed=4)

    def reboot_at_selftest(progress: FlashProgress) -> None:
        # The device reboots as the health-check request reaches it (a crash on trial).
        if progress.phase == "selftest" and dev.boots == 1:
            dev.faults.reboot_at_rx = [dev.rx_bytes + 3]

    try:
        result = SerialFlashJob(t, p, progress=reboot_at_selftest).run()
        assert dev.boots == 2 and t.disconnects
        assert result.confirmed and result.self_test is not None and result.self_test.passed
        assert any("dropped off during the trial" in n for n in result.notes), result.notes
        assert dev.storage.table.confirmed == result.slot
    finally:
        t.close()


def test_a_cable_cut_during_confirm_is_resumed(serial_device: Make, pty_fault_proxy: Proxy) -> None:
    dev = serial_device()
    proxy = pty_fault_proxy(dev.path, seed=11)
    t = _connect(str(proxy.path), timeout_s=1.0)
    p = payload(8_000, seed=5)

    def cut_at_confirm(progress: FlashProgress) -> None:
        if progress.phase == "confirm" and proxy.cuts == 0:
            proxy.plan.cut_after(4)  # the confirm request dies on the wire

    try:
        result = SerialFlashJob(t, p, progress=cut_at_confirm).run()
        assert proxy.cuts == 1 and result.confirmed
        assert dev.storage.table.confirmed == result.slot
    finally:
        t.close()


def test_one_lost_probe_frame_does_not_demote_an_smp_device(
    serial_device: Make, pty_fault_proxy: Proxy
) -> None:
    dev = serial_device()
    proxy = pty_fault_proxy(dev.path, seed=12)
    # A bit flipped inside the first request (the identity probe): the device drops the
    # frame for its bad CRC and never answers it.
    proxy.plan.flip("up", at=[proxy.plan.offset("up") + 6])
    t = SerialTarget(str(proxy.path), timeout_s=0.5)
    try:
        info = t.connect()
        assert proxy.plan.count("flip") == 1
        assert t.smp and info is not None and info.hw_id == "mcu-sim", info
        assert [s.state for s in t.slots()] == ["confirmed", "empty"]
    finally:
        t.close()


def test_a_device_silent_at_connect_is_probed_again_by_the_next_command(
    serial_device: Make, pty_fault_proxy: Proxy
) -> None:
    dev = serial_device()
    proxy = pty_fault_proxy(dev.path, seed=13)
    proxy.plan.stall("down")  # every probe answer is held back: looks like plain text
    t = SerialTarget(str(proxy.path), timeout_s=0.3)
    try:
        t.connect()
        assert not t.smp
        proxy.plan.clear()
        proxy.plan.resume()
        # The next command asks again instead of refusing with "telemetry only".
        for _ in range(3):  # the held answers arrive late and are dropped as stale
            try:
                slots = t.slots()
                break
            except DeviceError as exc:
                assert "does not speak SMP" not in str(exc), exc
        else:
            pytest.fail("the device was never probed again")
        assert t.smp and [s.state for s in slots] == ["confirmed", "empty"]
    finally:
        t.close()


def test_no_free_slot_is_a_sentence_not_a_dump(serial_device: Make) -> None:
    dev = serial_device()
    t = _connect(str(dev.path))
    try:
        p = payload(6_000, seed=6)
        slot = upload_with_resume(t, p)
        t.activate(slot, p)  # on trial: both slots are busy now
        with pytest.raises(DeviceError) as info:
            upload_with_resume(t, payload(6_000, seed=7))
        text = str(info.value)
        assert "no free slot" in text and "edgeconsole rollback" in text, text
        for raw in ("Header(", "OP.", "smp_data", "IMG_MGMT_ERR", "Err["):
            assert raw not in text, text
    finally:
        t.close()


def test_app_group_refusals_are_sentences(serial_device: Make) -> None:
    dev = serial_device()
    t = _connect(str(dev.path))
    try:
        with pytest.raises(DeviceError) as info:
            t.activate(1)  # slot 1 is empty: the state machine refuses
        text = str(info.value)
        assert text.startswith(f"{dev.path}: putting the bundle on trial refused: ")
        assert "slot state machine refused" in text and "cannot go on trial" in text, text
        assert "rc=" not in text and "ActivateWrite" not in text
    finally:
        t.close()


def test_reconnecting_never_resumes_on_a_different_device(
    serial_device: Make, tmp_path: Path
) -> None:
    from edgeconsole.devices.serial.client import WrongDevice
    from edgeconsole.sim.smp_server import Identity

    first = serial_device("a")
    other = serial_device("b", identity=Identity(serial="VIRT0002"))
    link = tmp_path / "ttyUSB-link"  # what a person points at, like /dev/serial/by-id/...
    link.symlink_to(first.path.resolve())
    t = _connect(str(link), timeout_s=1.0)
    try:
        assert t.info().serial == "VIRT0001"
        # The cable comes back with another device behind the same name.
        link.unlink()
        link.symlink_to(other.path.resolve())
        with pytest.raises(WrongDevice) as info:
            t.reconnect(timeout_s=5.0)
        assert "VIRT0002" in str(info.value) and "VIRT0001" in str(info.value)
        # A flash job on this target stops there instead of finishing a trial elsewhere.
        assert other.storage.table.slot(1).state.value == "empty"
    finally:
        t.close()


def test_probing_a_plain_device_prints_no_raw_smp_dump(tmp_path: Path) -> None:
    import threading

    master, slave = os.openpty()
    stop = threading.Event()

    def arduino() -> None:  # a sketch printing CSV, never answering SMP
        i = 0
        while not stop.wait(0.01):
            os.write(master, f"{i},{i * 2}\n".encode())
            i += 1

    th = threading.Thread(target=arduino, daemon=True)
    th.start()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "edgeconsole", "devices", "--probe", os.ttyname(slave)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "EDGECONSOLE_HOME": str(tmp_path / "home")},
        )
    finally:
        stop.set()
        th.join()
        os.close(master)
        os.close(slave)
    assert r.returncode == 0, r.stderr
    assert "telemetry only" in r.stdout
    for raw in ("Header(", "smp_data", "Timeout ("):
        assert raw not in r.stderr, r.stderr
