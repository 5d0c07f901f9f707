"""``StockTarget`` against the stock virtual device over a real pty: capabilities,
the MCUboot upgrade flow and every way it can go wrong, files, statistics, shell."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeconsole.core.errors import DeviceError, ImageError
from edgeconsole.devices.serial import fs
from edgeconsole.devices.serial.firmware import FirmwareUpgradeJob, ImagePolicy, upload_image
from edgeconsole.devices.serial.mcuboot import class_uuid, load_key
from edgeconsole.devices.serial.stock import StockTarget
from edgeconsole.sim.pty_device import FaultPlan
from edgeconsole.sim.stock_device import StockSerialDevice

Device = Callable[..., StockSerialDevice]
Connect = Callable[..., StockTarget]
Sign = Callable[..., bytes]


def policy(dev: StockSerialDevice, **kw: object) -> ImagePolicy:
    return ImagePolicy(keys=(load_key(dev.key_path),), **kw)  # type: ignore[arg-type]


def upgrade(t: StockTarget, dev: StockSerialDevice, image: bytes, **kw: object) -> object:
    pol = kw.pop("policy", None) or policy(dev)
    kw.setdefault("reset_timeout_s", 5.0)
    job = FirmwareUpgradeJob(t, image, policy=pol, **kw)  # type: ignore[arg-type]
    return job.run()


def test_capabilities_from_enumeration_and_by_probing(
    stock_device: Device, stock_target: Connect
) -> None:
    full = stock_target(stock_device("full"))
    caps = full.capabilities()
    assert caps.source == "enumeration"
    assert set(caps.groups) == {0, 1, 2, 8, 9, 10}
    assert caps.bootloader == "MCUboot" and caps.mode == 3 and caps.can_revert
    assert caps.board == "edgeconsole_sim" and caps.hash_types == ("crc32", "sha256")
    assert all(c.available for c in caps.items)

    bare = stock_target(stock_device("bare", groups=frozenset({0, 1}), mode="overwrite"))
    caps = bare.capabilities()
    assert caps.source == "probing" and set(caps.groups) == {0, 1}
    assert not caps.has("fs") and "CONFIG_MCUMGR_GRP_FS" in caps.why_not("fs")
    assert not caps.has("shell") and not caps.has("stats")
    assert caps.can_revert is False and "cannot revert" in caps.get("image.test").reason  # type: ignore[union-attr]
    with pytest.raises(DeviceError, match="no file system management"):
        fs.put_file(bare, b"x", "/lfs1/x")
    with pytest.raises(DeviceError, match="Shell"):
        bare.shell(["help"])


def test_upgrade_tests_resets_checks_and_confirms(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    phases: list[str] = []
    result = upgrade(t, dev, signed_image(dev, "1.1.0"), progress=lambda p: phases.append(p.phase))
    assert result.outcome == "confirmed" and result.previous == "1.0.0"  # type: ignore[attr-defined]
    assert [p for p in dict.fromkeys(phases)] == [
        "check-image",
        "upload",
        "verify",
        "test",
        "reset",
        "wait",
        "check",
        "confirm",
        "done",
    ]
    running = next(s for s in t.images() if s.active)
    assert running.version == "1.1.0" and running.confirmed
    assert dev.boots == 2 and dev.flash.state.swap_type() == "none"
    # A further reset keeps it: it was confirmed.
    t.reset()
    assert next(s for s in t.wait_back(5.0) if s.active).version == "1.1.0"


def test_test_only_leaves_it_on_test_and_rollback_reverts(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    result = upgrade(t, dev, signed_image(dev, "1.1.0"), mode="test")
    assert result.outcome == "on-test"  # type: ignore[attr-defined]
    test = t.self_test()
    assert test.passed and "1.1.0" in test.detail
    slots = t.rollback()
    running = next(s for s in slots if s.running)
    assert running.state == "confirmed" and "1.0.0" in running.bundle_id
    with pytest.raises(DeviceError, match="nothing to revert"):
        t.rollback()


def test_permanent_only_when_chosen(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    result = upgrade(t, dev, signed_image(dev, "2.0.0"), permanent=True, mode="test")
    assert result.outcome == "permanent"  # type: ignore[attr-defined]
    assert next(s for s in t.images() if s.active).confirmed


@pytest.mark.parametrize("case", ["other-key", "downgrade", "same", "other-board", "corrupt"])
def test_images_refused_before_a_byte_is_sent(
    stock_device: Device,
    stock_target: Connect,
    signed_image: Sign,
    tmp_path: Path,
    case: str,
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    pol = policy(dev, cid=class_uuid("board-a", "acme.com"))
    if case == "other-key":
        other = stock_device("other").data_dir / "keys" / "mcuboot-ed25519.pem"
        image, words = signed_image(dev, "1.1.0", key=other), "not by a key you trust"
    elif case == "downgrade":
        image, words = signed_image(dev, "0.9.0"), "older than the running"
    elif case == "same":
        image = dev.flash.image_bytes(0) or b""
        words = "already runs"
    elif case == "other-board":
        image = signed_image(dev, "1.1.0", extra=("--vid", "acme.com", "--cid", "board-b"))
        words = "another board"
    else:
        image = bytearray(signed_image(dev, "1.1.0"))
        image[1000] ^= 0x40
        image, words = bytes(image), "changed or damaged"
    if case != "other-board":
        pol = policy(dev)
    before = dev.server.counters.uploads
    with pytest.raises(ImageError, match=words):
        upgrade(t, dev, image, policy=pol)
    assert dev.server.counters.uploads == before  # nothing was sent
    assert next(s for s in t.images() if s.active).version == "1.0.0"


def test_downgrade_by_choice_unless_mcuboot_prevents_it(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device("ok")
    t = stock_target(dev)
    upgrade(t, dev, signed_image(dev, "1.1.0"))
    result = upgrade(t, dev, signed_image(dev, "1.0.5"), policy=policy(dev, allow_downgrade=True))
    assert result.version == "1.0.5"  # type: ignore[attr-defined]
    strict = stock_device("strict", no_downgrade=True)
    s = stock_target(strict)
    assert s.capabilities().no_downgrade is True
    upgrade(s, strict, signed_image(strict, "1.1.0"))
    with pytest.raises(ImageError, match="prevents downgrades"):
        upgrade(
            s, strict, signed_image(strict, "1.0.5"), policy=policy(strict, allow_downgrade=True)
        )


def test_a_device_that_reverts_after_test_is_said_so(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    with pytest.raises(DeviceError, match="did not stay up: MCUboot reverted") as info:
        upgrade(t, dev, signed_image(dev, "1.1.0", body=b"SIM:CRASH"))
    assert "runs 1.0.0 as before" in str(info.value)
    running = next(s for s in t.images() if s.active)
    assert running.version == "1.0.0" and running.confirmed


def test_mcuboot_refusing_at_boot_is_said_so(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    """The console was told to trust a key the device's MCUboot does not have: the image
    passes our check, MCUboot erases it at boot, and the console says what happened."""
    dev = stock_device()
    t = stock_target(dev)
    other = stock_device("other")
    pol = ImagePolicy(keys=(load_key(other.key_path),))
    with pytest.raises(DeviceError, match=r"MCUboot refused 1\.1\.0 at boot and erased it"):
        upgrade(t, dev, signed_image(other, "1.1.0"), policy=pol)
    assert [s.slot for s in t.images()] == [0]


def test_a_device_that_never_comes_back_is_said_so_and_reverts_on_power_cycle(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    dev = stock_device()
    t = stock_target(dev)
    with pytest.raises(DeviceError, match="did not come back") as info:
        upgrade(t, dev, signed_image(dev, "1.1.0", body=b"SIM:HANG"), reset_timeout_s=1.0)
    text = str(info.value)
    assert "on test" in text and "returns to 1.0.0" in text
    plugs = dev.plugs
    dev.power_cycle()
    assert dev.wait_plugs(plugs + 1)
    back = t.wait_back(5.0)
    running = next(s for s in back if s.active)
    assert running.version == "1.0.0" and running.confirmed


def test_a_lost_frame_and_a_cut_cable_mid_upload_resume(
    stock_device: Device, stock_target: Connect, signed_image: Sign
) -> None:
    faults = FaultPlan(cut_at_rx=[40_000], flip_rx={90_000})
    dev = stock_device(faults=faults)
    t = stock_target(dev, timeout_s=1.0)
    image = signed_image(dev, "1.1.0", size=150_000)
    up = upload_image(t, image)
    assert up.resumes >= 2
    assert next(s for s in t.images() if s.slot == 1).version == "1.1.0"


def test_files_put_resume_and_get(
    stock_device: Device, stock_target: Connect, tmp_path: Path
) -> None:
    dev = stock_device(faults=FaultPlan(cut_at_rx=[60_000]))
    t = stock_target(dev, timeout_s=1.0)
    data = random.Random(5).randbytes(120_000)
    first = fs.put_file(t, data, "/lfs1/model.onnx")
    assert first.device_hash is not None and first.device_hash.kind == "sha256"
    assert first.resumes >= 1 and first.resumed_from == 0
    assert (dev.data_dir / "fs" / "model.onnx").read_bytes() == data
    # Half a file left by an earlier cut: the next put keeps the half it can prove.
    (dev.data_dir / "fs" / "model.onnx").write_bytes(data[:50_000])
    again = fs.put_file(t, data, "/lfs1/model.onnx")
    assert again.resumed_from == 50_000
    # A prefix that is not ours starts over.
    (dev.data_dir / "fs" / "model.onnx").write_bytes(b"\0" * 10)
    assert fs.put_file(t, data, "/lfs1/model.onnx").resumed_from == 0
    dest = tmp_path / "back.onnx"
    got = fs.get_file(t, "/lfs1/model.onnx", dest)
    assert dest.read_bytes() == data and got.sha256 == first.sha256
    # A cut get leaves DEST.part; the next get continues after checking it.
    part = tmp_path / "again.onnx.part"
    part.write_bytes(data[:30_000])
    assert fs.get_file(t, "/lfs1/model.onnx", tmp_path / "again.onnx").resumed_from == 30_000
    with pytest.raises(DeviceError, match=r"rc=|not exist|refused"):
        fs.get_file(t, "/lfs1/missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()


def test_device_paths_are_checked_before_they_are_sent(
    stock_device: Device, stock_target: Connect
) -> None:
    from edgeconsole.core.errors import ConfigError

    t = stock_target(stock_device())
    for bad in ("model.onnx", "/lfs1/a/../b", "/lfs1/x\n", "/lfs1/"):
        with pytest.raises(ConfigError):
            fs.put_file(t, b"x", bad)


def test_stats_and_shell(stock_device: Device, stock_target: Connect) -> None:
    dev = stock_device()
    t = stock_target(dev)
    stats = t.stats()
    assert set(stats) == {"smp_svr_stats", "smp_link", "dfu"}
    assert stats["smp_link"]["rx_frames"] > 0
    assert t.shell(["kernel", "version"]) == ("Zephyr version 3.7.0", 0)
    assert t.shell(["nope"])[1] == -8
    with pytest.raises(DeviceError, match="did not return within"):
        t.shell(["sleep", "3000"], timeout_s=0.5)
