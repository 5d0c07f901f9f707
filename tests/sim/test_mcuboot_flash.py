"""The stock device's MCUboot: swap semantics, the image manager's rules, power cuts.

Rules under test are Zephyr's ``img_mgmt_state.c`` and MCUboot's swap types:
test → reset runs the new image unconfirmed; a reset without confirm reverts;
confirm keeps it; permanent needs no confirm; a bad image is erased at boot;
downgrade prevention and vendor/class ids are enforced at boot. A power cut
at every persistent write of upload → test → reset → confirm leaves a device
that boots a confirmed image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from smp.image_management import IMG_MGMT_ERR

from edgeconsole.devices.serial.mcuboot import Version, trusted
from edgeconsole.sim.mcuboot_build import app_body, build_image, new_ed25519_key
from edgeconsole.sim.mcuboot_flash import REVERT, TEST, FlashState, ImageRefused, McubootFlash
from edgeconsole.sim.storage import PowerLoss, PowerRail

V1, V2, V0 = Version(1, 0, 0), Version(2, 0, 0), Version(0, 9, 0)


def image(version: Version, key: object = None, body: bytes = b"") -> bytes:
    return build_image(app_body("app", version, 4096) + body, version, key)  # type: ignore[arg-type]


def flash_at(path: Path, **kw: object) -> McubootFlash:
    f = McubootFlash(path, **kw)  # type: ignore[arg-type]
    if f.state.images == (None, None):
        f.install_factory(image(V1))
    f.boot()
    return f


def upload(f: McubootFlash, data: bytes) -> None:
    f.begin_upload()
    f.write_upload(0, data)
    assert f.finish_upload(len(data), hashlib.sha256(data).digest())


def running(f: McubootFlash) -> str:
    facts = f.facts(0)
    return str(facts.version) if facts else ""


def test_test_reset_runs_it_on_trial_and_the_next_reset_reverts(tmp_path: Path) -> None:
    f = flash_at(tmp_path)
    upload(f, image(V2))
    f.set_next_boot(1, confirm=False)
    assert f.state.swap_type() == TEST
    report = f.boot()
    assert running(f) == "2.0.0" and "swapped" in report.events[0]
    assert f.state.swap_type() == REVERT  # the app sees: active unconfirmed, slot 1 confirmed
    assert f.state.slot_in_use(1)
    report = f.boot()  # reset without confirming
    assert running(f) == "1.0.0" and "reverted" in report.events[0]
    assert f.state.swap_type() == "none"
    assert str(f.facts(1).version) == "2.0.0"  # type: ignore[union-attr]


def test_confirm_keeps_it_and_permanent_needs_no_confirm(tmp_path: Path) -> None:
    f = flash_at(tmp_path)
    upload(f, image(V2))
    f.set_next_boot(1, confirm=False)
    f.boot()
    f.set_next_boot(0, confirm=True)
    f.boot()
    assert running(f) == "2.0.0" and f.state.swap_type() == "none"
    upload(f, image(Version(3, 0, 0)))
    f.set_next_boot(1, confirm=True)  # permanent: the person chose it
    f.boot()
    assert running(f) == "3.0.0" and f.state.swap_type() == "none"
    f.boot()
    assert running(f) == "3.0.0"


def test_zephyr_image_manager_rules(tmp_path: Path) -> None:
    f = flash_at(tmp_path)
    with pytest.raises(ImageRefused) as e:
        f.set_next_boot(0, confirm=False)
    assert e.value.code == IMG_MGMT_ERR.IMAGE_SETTING_TEST_TO_ACTIVE_DENIED
    upload(f, image(V2))
    f.set_next_boot(1, confirm=False)
    f.set_next_boot(1, confirm=False)  # testing the pending slot again: nothing to do
    with pytest.raises(ImageRefused) as e:
        f.set_next_boot(1, confirm=True)
    assert e.value.code == IMG_MGMT_ERR.IMAGE_ALREADY_PENDING
    with pytest.raises(ImageRefused) as e:
        f.begin_upload()  # slot 1 pending
    assert e.value.code == IMG_MGMT_ERR.NO_FREE_SLOT
    with pytest.raises(ImageRefused):
        f.erase(1)
    f.boot()  # on test now
    with pytest.raises(ImageRefused) as e:
        f.set_next_boot(1, confirm=False)
    assert e.value.code == IMG_MGMT_ERR.IMAGE_ALREADY_PENDING
    with pytest.raises(ImageRefused):
        f.erase(1)  # the fallback MCUboot reverts to
    with pytest.raises(ImageRefused):
        f.begin_upload()
    f.set_next_boot(1, confirm=True)  # confirming the fallback is "already so" in revert
    f.set_next_boot(0, confirm=True)
    f.erase(1)  # spare now
    assert f.state.images[1] is None
    with pytest.raises(ImageRefused):
        f.erase(0)


@pytest.mark.parametrize(
    "setup,why",
    [
        ("badsig", "not by a key"),
        ("downgrade", "downgrade"),
        ("cid", "class id"),
        ("crc", "does not match"),
    ],
)
def test_mcuboot_erases_a_bad_image_at_boot(tmp_path: Path, setup: str, why: str) -> None:
    key = new_ed25519_key(tmp_path / "k.pem")
    other = new_ed25519_key(tmp_path / "other.pem")
    kw: dict[str, object] = {"keys": [trusted(key.public_key(), "k")]}
    if setup == "downgrade":
        kw["no_downgrade"] = True
    if setup == "cid":
        kw["cid"] = b"\x01" * 16
    f = McubootFlash(tmp_path / "flash", **kw)  # type: ignore[arg-type]
    f.install_factory(image(V1, key))
    f.boot()
    new = {
        "badsig": image(V2, other),
        "downgrade": image(V0, key),
        "cid": image(V2, key),
        "crc": image(V2, key)[:-1] + b"\0",
    }[setup]
    if setup == "crc":
        new = bytearray(new)
        new[700] ^= 1  # a byte of the body
        new = bytes(new)
    upload(f, new)
    f.set_next_boot(1, confirm=False)
    report = f.boot()
    assert running(f) == "1.0.0"
    assert f.state.images[1] is None
    assert why in report.events[0], report.events


def test_overwrite_mode_copies_and_cannot_revert(tmp_path: Path) -> None:
    f = flash_at(tmp_path, mode="overwrite")
    upload(f, image(V2))
    f.set_next_boot(1, confirm=False)
    f.boot()
    assert running(f) == "2.0.0" and f.state.swap_type() == "none"
    f.boot()
    assert running(f) == "2.0.0"


def test_damaged_boot_state_from_outside_is_reported(tmp_path: Path) -> None:
    f = flash_at(tmp_path)
    (tmp_path / "boot.json").write_text('{"images": [1, 2]}')
    with pytest.raises(RuntimeError, match="boot state"):
        McubootFlash(tmp_path)
    for bad in (
        "[]",
        '{"images": "x", "trailers": []}',
        '{"images": ["ab", null], "trailers": [{}, {}]}',
    ):
        with pytest.raises((RuntimeError, ValueError)):
            FlashState.from_json(__import__("json").loads(bad))
    assert f.dir == tmp_path


def bootable_and_confirmed(path: Path, versions: set[str]) -> str:
    """Boot what is on flash (as many resets as a technician might do without confirming)
    and say what runs; it must be a confirmed image both times."""
    f = McubootFlash(path)
    first = f.boot()
    assert first.running is not None, first.events
    assert str(first.running.version) in versions
    if f.state.swap_type() == REVERT:
        # It runs an unconfirmed image; the confirmed one waits in slot 1.
        fallback = f.facts(1)
        assert fallback is not None and str(fallback.version) in versions
        second = f.boot()
        assert second.running is not None
    assert f.state.swap_type() == "none" and f.validate(0) == ""
    return running(f)


def flow(f: McubootFlash, new: bytes) -> int:
    """upload → test → reset → confirm, as EdgeConsole does it; returns the number of the
    persistent write that is the confirm."""
    f.begin_upload()
    f.write_upload(0, new)
    assert f.finish_upload(len(new), hashlib.sha256(new).digest())
    f.set_next_boot(1, confirm=False)
    f.boot()
    confirm_write = f.rail.writes + 1
    f.set_next_boot(0, confirm=True)
    f.boot()
    return confirm_write


@pytest.mark.parametrize("phase", ["write-temp", "rename", "sync-dir"])
def test_a_power_cut_at_every_write_leaves_a_confirmed_bootable_image(
    tmp_path: Path, phase: str
) -> None:
    """Cut the power at each persistent write (and each step of it) of the flow, boot
    what is on flash (resetting once more if it runs an image on test): a confirmed,
    valid image runs, and it is the new one exactly when the confirm reached the disk."""
    new = image(V2)
    flash_at(tmp_path / "probe")
    uncut = McubootFlash(tmp_path / "probe")
    confirm_write = flow(uncut, new)
    total = uncut.rail.writes
    assert total >= 6, total
    for cut in range(1, total + 1):
        d = tmp_path / f"cut{cut}"
        flash_at(d)
        f = McubootFlash(d, PowerRail(fail_at=cut, phase=phase))
        with pytest.raises(PowerLoss):
            flow(f, new)
        confirmed = cut > confirm_write or (cut == confirm_write and phase == "sync-dir")
        want = "2.0.0" if confirmed else "1.0.0"
        assert bootable_and_confirmed(d, {"1.0.0", "2.0.0"}) == want, (cut, phase)
