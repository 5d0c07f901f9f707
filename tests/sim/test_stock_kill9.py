"""Power cut for real: ``edgeconsole sim serial --stock`` killed with SIGKILL at random
moments of EdgeConsole's test → reset → confirm flow, then started again on the same
data folder. Every time the device must boot a valid image, and a confirmed one (at
once, or after the one more reset a technician would do, which reverts an image left
on test)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.devices.serial.client import SerialTarget
from edgeconsole.devices.serial.firmware import FirmwareUpgradeJob, ImagePolicy
from edgeconsole.devices.serial.mcuboot import load_key
from edgeconsole.devices.serial.stock import StockTarget, adopt
from tests.fixtures.serial import pull_plug
from tests.fixtures.stock import sign

BIN = Path(sys.executable).parent
ROUNDS = 12


class Sim:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.proc = subprocess.Popen(
            [str(BIN / "edgeconsole"), "sim", "serial", "--stock", "--data-dir", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        assert self.port, "the stock device did not start"

    def kill(self) -> None:
        pull_plug(self.proc, self.data / "tty")

    def connect(self) -> StockTarget:
        link = SerialTarget(self.port, timeout_s=1.0)
        link.connect()
        target = adopt(link)
        assert isinstance(target, StockTarget)
        return target


def check_bootable_and_confirmed(sim: Sim, known: set[str]) -> str:
    t = sim.connect()
    try:
        images = t.images()
        running = next(s for s in images if s.active)
        assert running.hash in known, "runs an image nobody uploaded"
        if not running.confirmed:
            fallback = next(s for s in images if s.slot == 1)
            assert fallback.confirmed and fallback.hash in known
            t.reset()
            running = next(s for s in t.wait_back(10.0) if s.active)
        assert running.confirmed and running.hash in known
        return running.version
    finally:
        t.close()


@pytest.mark.slow
@pytest.mark.timeout(400)  # 12 kill rounds of real processes; ~40 s quiet, 120+ s at load 20
def test_kill9_at_any_moment_of_test_reset_confirm(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    sims: list[Sim] = []

    def start() -> Sim:
        sims.append(Sim(data))
        return sims[-1]

    try:
        run_rounds(tmp_path, data, start)
    finally:
        for s in sims:  # a failed round must not leave a device running
            if s.proc.poll() is None:
                s.kill()


def run_rounds(tmp_path: Path, data: Path, start: Any) -> None:
    sim = start()
    key = data / "keys" / "mcuboot-ed25519.pem"
    pol = ImagePolicy(keys=(load_key(data / "keys" / "mcuboot-ed25519.pub.pem"),))
    t = sim.connect()
    known = {next(s for s in t.images() if s.active).hash}
    images = [sign(tmp_path, f"1.{i}.0", key=key, size=60_000) for i in range(1, 3)]
    from edgeconsole.devices.serial.mcuboot import inspect_image

    known |= {inspect_image(i).tlv_hash.hex() for i in images}
    # One undisturbed run tells how long the flow takes, to spread the kills over it.
    t0 = time.monotonic()
    FirmwareUpgradeJob(t, images[0], policy=pol, reset_timeout_s=5.0).run()
    span = time.monotonic() - t0
    t.close()
    rng = random.Random(18)
    seen: set[str] = set()
    killed_in: list[str] = []
    for _ in range(ROUNDS):
        t = sim.connect()
        running = next(s for s in t.images() if s.active)
        new = images[1] if running.version == "1.1.0" else images[0]
        phase = ["connected"]
        job = FirmwareUpgradeJob(
            t,
            new,
            policy=ImagePolicy(keys=pol.keys, allow_downgrade=True),
            progress=lambda p, phase=phase: phase.__setitem__(0, p.phase),
            reset_timeout_s=1.0,
            reconnect_timeout_s=1.0,
        )

        def work(job: FirmwareUpgradeJob = job) -> None:
            try:
                job.run()
            except EdgeConsoleError:
                pass  # the device died under it: what it left is checked below

        worker = threading.Thread(target=work)
        worker.start()
        # The first two cuts land in the two places that matter whatever the machine's
        # speed (the upload is 10-20 ms on a quiet machine: a random moment missed it
        # half the time): during the upload, and after the image was marked for test.
        # The others fall at a seeded random moment of the flow.
        wanted = {0: {"upload"}, 1: {"test", "reset", "wait", "check", "confirm"}}.get(
            len(killed_in)
        )
        if wanted is not None:
            deadline = time.monotonic() + 60
            while phase[0] not in wanted and worker.is_alive() and time.monotonic() < deadline:
                time.sleep(0.0005)
        else:
            time.sleep(rng.uniform(0.0, span * 1.2))  # the moment of the power cut
        sim.kill()
        killed_in.append(phase[0])
        worker.join(timeout=60)
        assert not worker.is_alive()
        t.close()
        sim = start()
        seen.add(check_bootable_and_confirmed(sim, known))
    assert seen <= {"1.0.0", "1.1.0", "1.2.0"}
    # The kills landed all over the flow: while uploading, and after the image was marked.
    assert "upload" in killed_in, killed_in
    assert set(killed_in) & {"test", "reset", "wait", "check", "confirm", "done"}, killed_in
