"""open_driver: one driver per target kind, each refusing what its kind cannot do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeconsole.core.errors import ConfigError, DeviceError
from edgeconsole.devices.driver import Reading, drivable, open_driver
from edgeconsole.devices.loop import LoopThread
from edgeconsole.devices.target import TargetInfo


@pytest.fixture
def io() -> Iterator[LoopThread]:
    loop = LoopThread("test-driver-io")
    yield loop
    loop.stop()


@pytest.mark.parametrize(
    ("url", "kind", "has_slots"),
    [
        ("/dev/ttyACM9", "serial", False),  # nothing answered yet: no slots offered
        ("gateway://127.0.0.1:1", "gateway", True),
        ("oip://127.0.0.1:1", "oip", False),
    ],
)
def test_each_kind_has_its_driver(io: LoopThread, url: str, kind: str, has_slots: bool) -> None:
    d = open_driver(url, io=io, token="t")
    assert (d.kind, d.has_slots, d.disconnects, d.link_lost(), d.drain()) == (
        kind,
        has_slots,
        0,
        None,
        [],
    )
    d.close()  # never connected: closing is harmless


@pytest.mark.parametrize("url", ["local://", "sim://", "ftp://x", ""])
def test_what_has_no_driver_is_refused_before_anything_starts(url: str) -> None:
    with pytest.raises(ConfigError):
        drivable(url)


def test_an_oip_server_refuses_slot_jobs_and_a_gateway_takes_them(io: LoopThread) -> None:
    oip = open_driver("oip://127.0.0.1:1", io=io)
    for job in ("flash", "confirm", "rollback"):
        with pytest.raises(DeviceError, match="no slots"):
            oip.refuse(job)
    with pytest.raises(DeviceError, match="no slots"):
        oip.rollback()
    open_driver("gateway://127.0.0.1:1", io=io, token="t").refuse("flash")


def test_a_gateway_without_a_token_says_so_on_connect(
    io: LoopThread, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGECONSOLE_CONFIG_DIR", str(tmp_path))
    d = open_driver("gateway://127.0.0.1:1", io=io)
    with pytest.raises(ConfigError, match="no token"):
        d.connect()


def test_reading_summary_names_the_target() -> None:
    info = TargetInfo("serial:///dev/x", "edgeconsole-virtual", "VIRT1", "mcu", "1.0.0")
    assert Reading(info).summary == "edgeconsole-virtual VIRT1 fw 1.0.0"
    gw = TargetInfo("gateway://h:1", "agent", firmware="edgeconsole 1.2")
    assert Reading(gw, health="live, ready", server="edgeconsole 1.2").summary == (
        "agent edgeconsole 1.2 (live, ready)"
    )


def test_one_shot_devices_are_opened_by_their_kinds_driver() -> None:
    """``devices.targets.open_target`` (the CLI's one-shot commands) asks the driver of
    the URL's kind how to open it, as ``open_driver`` does, instead of its own branches."""
    from edgeconsole.devices.driver import open_device
    from edgeconsole.devices.gateway.driver import GatewayDriver
    from edgeconsole.devices.serial.driver import SerialDriver
    from edgeconsole.devices.targets import open_target

    assert open_target is open_device
    assert callable(SerialDriver.open_device) and callable(GatewayDriver.open_device)
    with pytest.raises(ConfigError, match="opened by the session"):
        open_device("oip://127.0.0.1:1")
    with pytest.raises(ConfigError, match="not a device"):
        open_device("local://")
