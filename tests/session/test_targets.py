"""TargetManager against a real virtual device on a pseudo-terminal (and a real journal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.session.session import Session
from edgeconsole.session.targets import JobProgress, TargetManager, TargetView, wait_for
from edgeconsole.sim.device import VirtualSerialDevice

ROOT = Path(__file__).resolve().parents[2]
TRUST = ROOT / "sample_models" / "trust"
BUNDLES = ROOT / "sample_models" / "bundles"
DIGITS = BUNDLES / "digits-1.ecb"
VIBRATION = BUNDLES / "vibration-anomaly-1.ecb"
WAIT = 20.0


class Poller:
    """Collects everything poll() hands out, like the window does."""

    def __init__(self, manager: TargetManager) -> None:
        self.m = manager
        self.views: dict[str, TargetView] = {}
        self.jobs: dict[int, list[JobProgress]] = {}
        self.batches: list[Any] = []
        self.events: list[Any] = []

    def poll(self) -> None:
        u = self.m.poll()
        if u.targets is not None:
            self.views = {v.url: v for v in u.targets}
        for j in u.jobs:
            self.jobs.setdefault(j.job_id, []).append(j)
        self.batches += u.telemetry
        self.events += u.events

    def until(self, cond: Callable[[], bool], timeout: float = WAIT) -> bool:
        def step() -> bool:
            self.poll()
            return cond()

        return wait_for(step, timeout)

    def state(self, url: str) -> str:
        v = self.views.get(url)
        return v.state if v else ""

    def job_done(self, job_id: int) -> bool:
        return bool(self.jobs.get(job_id)) and self.jobs[job_id][-1].finished


@pytest.fixture
def manager(journal: Any) -> Iterator[TargetManager]:
    m = TargetManager(journal=journal, trust_dir=TRUST)
    yield m
    m.close()


def connect(manager: TargetManager, device: VirtualSerialDevice) -> tuple[Poller, str]:
    p = Poller(manager)
    url = manager.connect(str(device.path))
    assert url.startswith("serial://")
    assert p.until(lambda: p.state(url) == "connected"), p.views
    return p, url


def test_connect_identity_slots_and_journal(
    manager: TargetManager, serial_device: Any, journal: Any
) -> None:
    dev = serial_device()
    p, url = connect(manager, dev)
    v = p.views[url]
    assert (v.name, v.serial, v.hw_id, v.firmware) == (
        "edgeconsole-virtual",
        "VIRT0001",
        "mcu-sim",
        "1.0.0",
    )
    assert v.smp and v.running is not None and v.running.bundle_id == "vibration-anomaly"
    assert [s.state for s in v.slots] == ["confirmed", "empty"]
    entries = journal.audit.entries()
    assert any(
        e.kind == "connection" and e.target == url and "connected" in e.message for e in entries
    )
    fleet = {t.identity: t for t in journal.fleet.targets()}
    assert fleet["VIRT0001"].hardware_id == "mcu-sim"
    assert [s.bundle_id for s in fleet["VIRT0001"].running()] == ["vibration-anomaly"]
    # Connecting twice is one target.
    assert manager.connect(f"serial://{dev.path}?baud=115200") == url
    assert len(manager.views()) == 1


def test_telemetry_names_stats_rate_and_shadow(
    manager: TargetManager, serial_device: Any, journal: Any
) -> None:
    dev = serial_device(rate=200.0)
    p, _url = connect(manager, dev)
    assert p.until(lambda: sum(len(b.t) for b in p.batches) >= 300)
    last = p.batches[-1]
    assert last.channels == ("accel_x_g", "accel_y_g", "accel_z_g", "temp_c", "score", "infer_ms")
    assert last.model_channel == "score"
    stats = {s.name: s for s in last.stats}
    assert 0.8 < stats["accel_z_g"].mean < 1.2  # gravity on z
    assert stats["temp_c"].min <= stats["temp_c"].mean <= stats["temp_c"].max
    assert 120 < last.rate_hz < 280
    assert last.dropped_lines == 0 and last.lost == 0
    # The laptop runs the same bundle over the same windows: within its tolerance.
    assert p.until(lambda: p.batches[-1].shadow_status.compared >= 3)
    sh = p.batches[-1].shadow_status
    assert sh.available and sh.bundle == "vibration-anomaly v1"
    assert sh.tolerance == pytest.approx(0.065166)
    assert sh.divergent == 0 and not sh.diverging
    assert sh.max_abs_diff is not None and sh.max_abs_diff < sh.tolerance
    assert last.threshold == pytest.approx(2.2226)
    points = [pt for b in p.batches for pt in b.shadow]
    assert points and all(abs(pt.diff) <= sh.tolerance for pt in points)
    # Telemetry rows reach the journal.
    assert journal.telemetry.flush(10.0)
    assert journal.telemetry.written > 0


def test_flash_trial_confirm_rollback(
    manager: TargetManager, serial_device: Any, journal: Any
) -> None:
    dev = serial_device()
    p, url = connect(manager, dev)
    job = manager.flash(url, DIGITS)
    assert p.until(lambda: p.job_done(job)), p.jobs
    reports = p.jobs[job]
    final = reports[-1]
    assert final.state == "done", final.message
    assert "health check passed" in final.message and "on trial" in final.message
    assert final.total == DIGITS.stat().st_size and final.bundle == "digits v1"
    assert p.until(lambda: p.views[url].trial is not None and not p.views[url].busy)
    v = p.views[url]
    assert v.trial.bundle_id == "digits" and v.running.bundle_id == "digits"
    c = manager.confirm(url)
    assert p.until(lambda: p.job_done(c))
    assert p.jobs[c][-1].state == "done", p.jobs[c][-1].message
    assert p.until(lambda: p.views[url].running.state == "confirmed")
    assert p.views[url].running.bundle_id == "digits"
    r = manager.rollback(url)
    assert p.until(lambda: p.job_done(r))
    assert p.jobs[r][-1].state == "done", p.jobs[r][-1].message
    assert p.until(lambda: p.views[url].running.bundle_id == "vibration-anomaly")
    kinds = [(e.kind, e.level) for e in journal.audit.entries(targets=[url])]
    assert ("flash", "info") in kinds and ("slot", "info") in kinds


def test_confirm_without_health_check_is_warned(
    manager: TargetManager, serial_device: Any, journal: Any
) -> None:
    dev = serial_device()
    p, url = connect(manager, dev)
    job = manager.flash(url, DIGITS)
    assert p.until(lambda: p.job_done(job)) and p.jobs[job][-1].state == "done"
    c = manager.confirm(url, health_check=False)
    assert p.until(lambda: p.job_done(c)) and p.jobs[c][-1].state == "done"
    assert any(
        e.level == "warning" and "WITHOUT a health check" in e.message
        for e in journal.audit.entries(targets=[url])
    )


def test_flash_refuses_untrusted_bundle(serial_device: Any, tmp_path: Path) -> None:
    empty = tmp_path / "trust"
    empty.mkdir()
    m = TargetManager(trust_dir=empty)
    try:
        p, url = connect(m, serial_device())
        job = m.flash(url, VIBRATION)
        assert p.until(lambda: p.job_done(job))
        final = p.jobs[job][-1]
        assert final.state == "failed"
        assert "trust" in final.message.lower() or "key" in final.message.lower()
        assert p.views[url].running.bundle_id == "vibration-anomaly"  # untouched
        assert [s.state for s in p.views[url].slots] == ["confirmed", "empty"]
    finally:
        m.close()


def test_cancel_flash_leaves_running_bundle(manager: TargetManager, serial_device: Any) -> None:
    dev = serial_device(baud=115200)  # paced: ~2 s for the 20 KB bundle
    p, url = connect(manager, dev)
    job = manager.flash(url, DIGITS)
    assert p.until(
        lambda: any(r.phase == "upload" and r.bytes_per_s > 0 for r in p.jobs.get(job, []))
    )
    uploading = [r for r in p.jobs[job] if r.phase == "upload" and r.bytes_per_s > 0][-1]
    assert uploading.cancellable and 0 < uploading.sent < uploading.total
    assert uploading.eta_s is not None and uploading.eta_s > 0
    assert manager.cancel(job)
    assert p.until(lambda: p.job_done(job))
    assert p.jobs[job][-1].state == "cancelled"
    assert p.until(lambda: not p.views[url].busy)
    assert p.views[url].running.bundle_id == "vibration-anomaly"
    assert not manager.cancel(job)  # finished jobs cannot be cancelled


def test_unplug_disconnected_then_reconnects(
    manager: TargetManager, tmp_path: Path, journal: Any
) -> None:
    data = tmp_path / "dev"
    dev = VirtualSerialDevice(data, rate=100.0)
    dev.start()
    try:
        p, url = connect(manager, dev)
    finally:
        dev.stop()  # the cable is pulled: the pty goes away
    assert p.until(lambda: p.state(url) == "disconnected"), p.views
    assert "disconnected" in p.views[url].error
    back = VirtualSerialDevice(data, rate=100.0)
    back.start()
    try:
        assert p.until(lambda: p.state(url) == "connected"), p.views
        n = sum(len(b.t) for b in p.batches)
        assert p.until(lambda: sum(len(b.t) for b in p.batches) > n + 20)  # streams again
        assert p.views[url].disconnects >= 1
    finally:
        back.stop()
    messages = [e.message for e in journal.audit.entries(targets=[url])]
    assert any("went away" in m for m in messages) and "reconnected" in messages


def test_connect_error_is_explained(manager: TargetManager, tmp_path: Path) -> None:
    p = Poller(manager)
    url = manager.connect(str(tmp_path / "no-such-tty"))
    assert p.until(lambda: p.state(url) == "error")
    assert "no such port" in p.views[url].error
    with pytest.raises(Exception, match="device is error"):
        manager.flash(url, DIGITS)


def test_session_poll_carries_targets_and_recording(
    serial_device: Any, journal: Any, tmp_path: Path
) -> None:
    session = Session(journal=journal, trust_dir=TRUST)
    try:
        dev = serial_device(rate=200.0)
        url = session.targets.connect(str(dev.path))
        rec = session.start_recording(tmp_path / "r.mcap")
        seen: dict[str, Any] = {"views": None, "samples": 0}

        def step() -> bool:
            u = session.poll()
            if u.targets is not None:
                seen["views"] = u.targets
            seen["samples"] += sum(len(b.t) for b in u.telemetry)
            return seen["samples"] >= 100

        assert wait_for(step, WAIT)
        assert seen["views"] and seen["views"][0].url == url
        session.stop_recording()
        from mcap.reader import make_reader

        with rec.open("rb") as fh:
            topics = {ch.topic for _s, ch, _m in make_reader(fh).iter_messages()}
        assert "/telemetry" in topics
    finally:
        session.close()
