"""A stock Zephyr/MCUboot device in the session: the view, its jobs and the journal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.core.errors import DeviceError
from edgeconsole.session.targets import TargetManager
from edgeconsole.sim.stock_device import StockSerialDevice
from tests.session.test_targets import Poller

ROOT = Path(__file__).resolve().parents[2]
TRUST = ROOT / "sample_models" / "trust"
DIGITS = ROOT / "sample_models" / "bundles" / "digits-1.ecb"
WAIT = 30.0

Device = Callable[..., StockSerialDevice]


@pytest.fixture
def manager(journal: Any) -> Iterator[TargetManager]:
    m = TargetManager(journal=journal, trust_dir=TRUST)
    yield m
    m.close()


def connect(manager: TargetManager, dev: StockSerialDevice) -> tuple[Poller, str]:
    p = Poller(manager)
    url = manager.connect(str(dev.path))
    assert p.until(lambda: p.state(url) == "connected" and p.views[url].stock is not None, WAIT)
    return p, url


def finish(p: Poller, job: int) -> Any:
    assert p.until(lambda: p.job_done(job), WAIT), p.jobs.get(job)
    return p.jobs[job][-1]


def test_the_view_shows_capabilities_and_images(
    manager: TargetManager, stock_device: Device
) -> None:
    dev = stock_device(groups=frozenset({0, 1, 8}), no_downgrade=True)
    p, url = connect(manager, dev)
    v = p.views[url]
    s = v.stock
    assert s is not None
    assert v.name == "edgeconsole_sim (stock MCUmgr)" and v.firmware == "1.0.0"
    assert s.board == "edgeconsole_sim" and s.bootloader == "MCUboot" and s.no_downgrade
    assert s.has("image.upload") and s.has("fs") and not s.has("shell")
    assert "CONFIG_MCUMGR_GRP_SHELL" in s.why_not("shell")
    assert s.running is not None and s.running.version == "1.0.0" and s.spare is None
    assert [x.state for x in v.slots] == ["confirmed"]
    with pytest.raises(DeviceError, match="firmware images, not bundles"):
        manager.flash(url, DIGITS)


def test_upgrade_job_and_its_journal(
    manager: TargetManager, stock_device: Device, signed_image: Any, tmp_path: Path, journal: Any
) -> None:
    dev = stock_device()
    p, url = connect(manager, dev)
    image = tmp_path / "fw.bin"
    image.write_bytes(signed_image(dev, "1.5.0", size=80_000))
    job = manager.stock.upgrade(url, image, keys=(str(dev.key_path),))
    last = finish(p, job)
    assert last.state == "done" and "1.0.0 → 1.5.0: confirmed" in last.message
    assert p.until(lambda: p.views[url].firmware == "1.5.0")
    s = p.views[url].stock
    assert s is not None and s.running is not None and s.running.confirmed
    entries = [e for e in journal.audit.entries() if e.kind == "firmware"]
    assert "1.5.0 runs (confirmed)" in entries[-1].message


def test_refused_upgrade_fails_with_a_sentence(
    manager: TargetManager, stock_device: Device, signed_image: Any, tmp_path: Path, journal: Any
) -> None:
    dev = stock_device()
    other = stock_device("other")
    p, url = connect(manager, dev)
    image = tmp_path / "fw.bin"
    image.write_bytes(signed_image(other, "1.5.0"))
    job = manager.stock.upgrade(url, image, keys=(str(dev.key_path),))
    last = finish(p, job)
    assert last.state == "failed" and "not by a key you trust" in last.message
    errors = [e for e in journal.audit.entries() if e.kind == "firmware" and e.level == "error"]
    assert errors and "not by a key you trust" in errors[-1].message


def test_cancel_during_upload_leaves_the_running_image(
    manager: TargetManager, stock_device: Device, signed_image: Any, tmp_path: Path
) -> None:
    dev = stock_device(baud=460_800)  # paced, so the upload takes long enough to cancel
    p, url = connect(manager, dev)
    image = tmp_path / "fw.bin"
    image.write_bytes(signed_image(dev, "1.5.0", size=400_000))
    job = manager.stock.upgrade(url, image, keys=(str(dev.key_path),))
    assert p.until(lambda: any(j.phase == "upload" and j.sent > 0 for j in p.jobs.get(job, [])))
    assert manager.cancel(job)
    last = finish(p, job)
    assert last.state == "cancelled"
    assert next(s for s in dev.flash.state.images if s) == dev.flash.state.images[0]
    s = p.views[url].stock
    assert s is not None and s.running is not None and s.running.version == "1.0.0"


def test_shell_transcript_stats_watch_and_files(
    manager: TargetManager, stock_device: Device, tmp_path: Path, journal: Any
) -> None:
    dev = stock_device()
    p, url = connect(manager, dev)
    assert finish(p, manager.stock.shell(url, "kernel version")).state == "done"
    bad = finish(p, manager.stock.shell(url, "sleep 5000", timeout_s=0.5))
    assert bad.state == "failed" and "did not return within" in bad.message
    s = p.views[url].stock
    assert s is not None
    assert (s.shell[0].command, s.shell[0].output, s.shell[0].ret) == (
        "kernel version",
        "Zephyr version 3.7.0",
        0,
    )
    assert s.shell[-1].ret is None and "did not return" in s.shell[-1].error
    shells = [e for e in journal.audit.entries() if e.kind == "shell"]
    assert shells[0].fields["output"] == "Zephyr version 3.7.0"

    # The hung command holds the device's SMP server for 5 s: the watch reads once it
    # answers again (reads that time out meanwhile are said, not fatal).
    manager.stock.watch_stats(url, True)

    def samples() -> int:
        v = p.views[url].stock
        return len(v.stats_history) if v else 0

    assert p.until(lambda: samples() >= 3, 20)
    v = p.views[url].stock
    assert v is not None and v.watching and "smp_link.rx_frames" in v.stats_history[-1][1]
    manager.stock.watch_stats(url, False)

    local = tmp_path / "notes.txt"
    local.write_bytes(b"abc" * 1000)
    assert finish(p, manager.stock.put_file(url, local, "/lfs1/notes.txt")).state == "done"
    back = tmp_path / "back.txt"
    assert finish(p, manager.stock.get_file(url, "/lfs1/notes.txt", back)).state == "done"
    assert back.read_bytes() == local.read_bytes()
    if DIGITS.is_file():
        placed = finish(p, manager.stock.place_model(url, DIGITS, "/lfs1/digits.onnx"))
        assert placed.state == "done" and "before absent" in placed.message
        entry = [e for e in journal.audit.entries() if "placed at /lfs1/digits.onnx" in e.message]
        assert entry[-1].fields["before"] == "absent"
        assert entry[-1].fields["after"].startswith("sha256:")
