"""The simulated devices as ``edgeconsole sim`` reaches them (``edgeconsole/sim/``).

The command line imports the session and the core only (import-linter); this is its
door to the virtual line PLC, the virtual serial device and the stock Zephyr/MCUboot
device. Everything is imported when called, so ``edgeconsole --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgeconsole.core.errors import ConfigError, ImageError

if TYPE_CHECKING:
    from edgeconsole.devices.plc.plcmap import PlcMap
    from edgeconsole.sim.device import FaultPlan, VirtualSerialDevice
    from edgeconsole.sim.plc import VirtualPlc
    from edgeconsole.sim.stock_device import StockSerialDevice


def virtual_plc(
    *,
    map_path: Path | None,
    opcua: bool,
    belt_spec: str | None,
    ppm: float | None,
    width: int,
    height: int,
    host: str,
    port: int,
    parts: int | None,
    clock: bool,
    late_ack_ms: float,
    no_ack_every: int,
    drop_trigger_every: int,
    unit_id: int | None,
    missing_outputs: bool,
    drop_link_every: int = 0,
    drop_link_at: str = "trigger",
    realtime: bool = False,
) -> tuple[VirtualPlc, PlcMap]:
    """A virtual PLC (not started) laid out from ``map_path`` (default: the sample map
    of its protocol), on the belt ``belt_spec`` films (which runs on the clock) or one
    sized from the frame and ``ppm``; and its map."""
    from edgeconsole.devices.plc.plcmap import load_map, sample_map_path
    from edgeconsole.sim.plc import Misbehaviour, VirtualPlc
    from edgeconsole.sources.belt import BeltTiming

    plc_map = load_map(map_path or sample_map_path("opcua" if opcua else "modbus"))
    if belt_spec is not None:
        from edgeconsole.sources.photo_eye import belt_for_source

        if ppm is not None:
            raise ConfigError("--belt sets the rate; leave --ppm out", hint="or drop --belt")
        belt, _fps = belt_for_source(belt_spec, "the virtual PLC")
        clock = True
    else:
        belt = BeltTiming.for_frame(width, height, parts_per_min=ppm)
    plc = VirtualPlc(
        plc_map,
        belt=belt,
        host=host,
        port=port,
        max_parts=parts,
        epoch_ns=0 if clock else None,
        realtime=realtime,
        misbehave=Misbehaviour(
            late_ack_ms=late_ack_ms,
            no_ack_every=no_ack_every,
            drop_trigger_every=drop_trigger_every,
            unit_id=unit_id,
            missing_outputs=missing_outputs,
            drop_link_every=drop_link_every,
            drop_link_at=drop_link_at,
        ),
    )
    return plc, plc_map


def fault_plan(
    *, cut_at: list[int], reboot_at: list[int], flip: int, power_loss_at: int | None, seed: int
) -> FaultPlan:
    """The faults a serial device injects: link cuts and reboots at request bytes,
    ``flip`` random bit flips in the first MB, a power loss at a persistent write."""
    from edgeconsole.sim.device import FaultPlan
    from edgeconsole.sim.storage import PowerRail

    return FaultPlan(
        cut_at_rx=sorted(cut_at),
        reboot_at_rx=sorted(reboot_at),
        flip_rx=FaultPlan.random_flips(flip, 0, 1 << 20, seed) if flip else set(),
        power=PowerRail(fail_at=power_loss_at),
        seed=seed,
    )


def serial_device(
    data_dir: Path,
    *,
    baud: int | None,
    buf_size: int,
    rate: float,
    faults: FaultPlan,
    seed: int,
    photo_eye: str | None,
    eye_x: float,
    fail_selftest: bool,
) -> VirtualSerialDevice:
    """The virtual MCU-class SMP device (not started), with a photo-eye input on the
    belt ``photo_eye`` films if given."""
    from edgeconsole.sim.device import VirtualSerialDevice

    eye = None
    if photo_eye:
        from edgeconsole.sources.photo_eye import eye_for_source

        eye = eye_for_source(photo_eye, eye_x)
    device = VirtualSerialDevice(
        data_dir,
        baud=baud,
        buf_size=buf_size,
        rate=rate,
        faults=faults,
        seed=seed,
        photo_eye=eye,
    )
    device.selftest_fail = fail_selftest
    return device


def stock_device(
    data_dir: Path,
    *,
    groups: str,
    baud: int | None,
    buf_size: int,
    faults: FaultPlan,
    mode: str,
    slot_size: int,
    key: Path | None,
    unsigned: bool,
    factory: Path | None,
    no_downgrade: bool,
    vid: str | None,
    cid: str | None,
    log_every_s: float,
) -> StockSerialDevice:
    """A stock Zephyr smp_svr with MCUboot (not started): the standard MCUmgr
    ``groups`` (comma-separated names) only."""
    from edgeconsole.devices.serial.mcuboot import class_uuid, vendor_uuid
    from edgeconsole.sim.stock_device import StockSerialDevice
    from edgeconsole.sim.stock_server import GROUP_IDS

    names = [g.strip() for g in groups.split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUP_IDS]
    if unknown:
        raise ConfigError(
            f"unknown MCUmgr group(s): {', '.join(unknown)}", hint=", ".join(GROUP_IDS)
        )
    if not 4096 <= slot_size <= 64 * 1024 * 1024:
        raise ConfigError(f"--slot-size {slot_size} is out of range", hint="4 KiB..64 MiB")
    if log_every_s < 0:
        raise ConfigError("--log-every must be 0 (off) or more seconds")
    try:
        return StockSerialDevice(
            data_dir,
            baud=baud,
            buf_size=buf_size,
            faults=faults,
            mode=mode,
            slot_size=slot_size,
            key=key,
            unsigned=unsigned,
            factory=factory,
            no_downgrade=no_downgrade,
            vid=vendor_uuid(vid) if vid else None,
            cid=class_uuid(cid, vid) if cid else None,
            groups=frozenset(GROUP_IDS[g] for g in names),
            log_every_s=log_every_s,
        )
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot set up the stock device: {exc}") from None
