"""``edgeconsole sim serial --stock``: a stock Zephyr ``smp_svr`` device with MCUboot.

No EdgeConsole firmware: only the standard MCUmgr groups (``sim.stock_server``)
on the same pseudo-terminal line as the EdgeConsole virtual device
(``sim.pty_device``). Its flash (``sim.mcuboot_flash``) holds two image slots
with MCUboot's swap semantics, persisted under ``<data_dir>/flash``, and a
file system under ``<data_dir>/fs``. A reset (SMP, or a power cut: the
process killed, :class:`~edgeconsole.sim.storage.PowerLoss`) runs MCUboot,
which swaps, reverts or keeps what runs, then the app prints a Zephyr boot
banner and answers again.

The MCUboot signing key: ``--key`` (private: the factory image is signed with
it; public: images are checked with it, and a factory image must be given),
else one made on first start in ``<data_dir>/keys/mcuboot-ed25519.pem``
(its public half beside it is what a technician trusts). Images whose body
holds ``SIM:CRASH`` crash at start (the watchdog resets, MCUboot reverts an
unconfirmed one); ``SIM:HANG`` hangs at start (the device does not come back
until it is power-cycled).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeconsole.devices.serial.mcuboot import TrustedKey, Version, trusted
from edgeconsole.sim.mcuboot_build import (
    PrivateKey,
    app_body,
    build_image,
    load_private_key,
    new_ed25519_key,
)
from edgeconsole.sim.mcuboot_flash import McubootFlash
from edgeconsole.sim.pty_device import FaultPlan, PtyDevice
from edgeconsole.sim.stock_fs import SimFileSystem
from edgeconsole.sim.stock_server import GROUP_NAMES, Identity, StockServer
from edgeconsole.sim.storage import PowerLoss

FACTORY_VERSION = Version(1, 0, 0)
CRASH_MARK = b"SIM:CRASH"
HANG_MARK = b"SIM:HANG"
#: Watchdog resets in a row before a crashing image is given up on (MCUboot then has
#: nothing else to try if it was confirmed: the device stays silent).
MAX_CRASH_BOOTS = 3
BANNER = "*** Booting Zephyr OS build v3.7.0 ***"
#: Frames the UART receives while the SMP server handles one (Zephyr's MCUmgr UART
#: transport has two receive buffers by default).
RX_BUFFERS = 2


class StockSerialDevice(PtyDevice):
    def __init__(
        self,
        data_dir: Path,
        *,
        baud: int | None = None,
        buf_size: int = 2048,
        faults: FaultPlan | None = None,
        replug_delay: float = 0.02,
        mode: str = "swap",
        slot_size: int = 1024 * 1024,
        key: Path | None = None,
        unsigned: bool = False,
        factory: Path | None = None,
        no_downgrade: bool = False,
        vid: bytes | None = None,
        cid: bytes | None = None,
        groups: frozenset[int] = frozenset(GROUP_NAMES),
        identity: Identity | None = None,
        fs_capacity: int = 16 * 1024 * 1024,
        log_every_s: float = 0.0,
    ) -> None:
        super().__init__(
            data_dir,
            baud=baud,
            buf_size=buf_size,
            faults=faults,
            replug_delay=replug_delay,
            rx_buffers=RX_BUFFERS,
        )
        self.signing_key, keys = self._keys(key, unsigned)
        self.public_keys: list[TrustedKey] = keys
        self.flash = McubootFlash(
            self.data_dir / "flash",
            self.faults.power,
            mode=mode,
            slot_size=slot_size,
            keys=keys,
            no_downgrade=no_downgrade,
            vid=vid,
            cid=cid,
        )
        self._factory_path = factory
        self.fs = SimFileSystem(self.data_dir / "fs", capacity=fs_capacity)
        self.identity = identity or Identity()
        self.server = StockServer(
            self.flash,
            self.fs,
            buf_size=buf_size,
            groups=groups,
            identity=self.identity,
            request_reset=self._request_reset,
            shell_stop=self._stop,
        )
        self.log_every_s = log_every_s
        self.running: str = ""  # version of the image that runs ("" = none: bricked)
        self.boot_events: list[str] = []

    # -- keys and the factory image --------------------------------------------------
    def _keys(self, key: Path | None, unsigned: bool) -> tuple[PrivateKey | None, list[TrustedKey]]:
        if unsigned:
            return None, []
        if key is None:
            key = self.data_dir / "keys" / "mcuboot-ed25519.pem"
            if not key.is_file():
                new_ed25519_key(key)
        raw = key.read_bytes()
        if b"PRIVATE KEY" in raw:
            private = load_private_key(key)
            return private, [trusted(private.public_key(), key.name)]
        from edgeconsole.devices.serial.mcuboot import load_key

        return None, [load_key(key)]

    @property
    def key_path(self) -> Path:
        """The public key a technician trusts for this device (made on first start)."""
        return self.data_dir / "keys" / "mcuboot-ed25519.pub.pem"

    def _factory_image(self) -> bytes:
        if self._factory_path is not None:
            return self._factory_path.read_bytes()
        if self.signing_key is None and self.public_keys:
            raise ValueError("a public --key needs --factory IMAGE (signed with that key)")
        return build_image(app_body("smp_svr", FACTORY_VERSION), FACTORY_VERSION, self.signing_key)

    # -- the firmware ----------------------------------------------------------------
    def _request_reset(self) -> None:
        self._reset_requested = True

    def _answer(self, frame: bytes) -> bytes | None:
        return self.server.handle(frame)

    def _loops(self) -> list[Callable[[], None]]:
        return [self._log_loop] if self.log_every_s > 0 else []

    def _boot(self) -> None:
        """Power-on: MCUboot decides what runs; a crash at start resets again."""
        crashes = 0
        while True:
            try:
                if self.flash.state.images == (None, None):
                    self.flash.install_factory(self._factory_image())
                report = self.flash.boot()
            except PowerLoss as loss:
                self.log.append(f"power: {loss}")
                self.flash.state = self.flash._load()
                continue
            self.boots += 1
            self.boot_events = report.events
            for event in report.events:
                self.log.append(event)
            if report.running is None:
                self.running = ""
                self.comes_back = False  # nothing to boot: the device stays silent
                return
            body = self.flash.image_bytes(0) or b""
            if CRASH_MARK in body:
                crashes += 1
                self.log.append("app crashed at start; watchdog reset")
                if crashes >= MAX_CRASH_BOOTS:
                    self.running = ""
                    self.comes_back = False
                    return
                continue
            if HANG_MARK in body:
                self.log.append("app hangs at start")
                self.running = ""
                self.comes_back = False
                return
            break
        self.running = str(report.running.version)
        self.server.rebooted()

    def _plugged(self) -> None:
        # MCUboot's lines and Zephyr's banner reach the console as log text.
        for line in (*self.boot_events, BANNER, f"smp_svr {self.running}"):
            self._send(f"{line}\n".encode(), droppable=True)

    def _log_loop(self) -> None:
        n = 0
        while not self._stop.wait(self.log_every_s):
            n += 1
            self._send(
                f"[{n:05d}] <inf> smp_svr: alive, running {self.running}\n".encode(), droppable=True
            )
