"""The demo's simulated hardware: a virtual serial device (a gateway agent later).

``edgeconsole demo`` (window or ``--headless``) starts ``edgeconsole sim serial``
as a child process in a temporary folder, reads the port path it prints on its
first line, and connects the session to it: the device then shows connected,
streams telemetry, and can be flashed with the sample bundles (the demo trusts
the DEMO-ONLY sample key for this device only).

The child never outlives the console: it runs in its own process group, asks
the kernel to kill it when the thread that started it dies (``PR_SET_PDEATHSIG``,
Linux: start it from the main thread), and
``close()`` (called when the session closes, and by ``atexit``) terminates the
group, then kills it if it does not stop.

Room for more: the gateway agent is started and connected the same way
(``DemoJob`` keeps a list of children and of target URLs).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import DeviceError

START_TIMEOUT_S = 20.0


def sample_trust_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "sample_models" / "trust"


#: Runs in the child before the simulator: ask the kernel for SIGTERM when the parent
#: dies (Linux; kept across exec), and give up at once if the parent is already gone.
#: Done in the child's own interpreter, not in a preexec_fn: forking a process with
#: threads and then calling into libc there can deadlock.
_CHILD_PRELUDE = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
    "sys.argv = ['edgeconsole', *sys.argv[2:]]\n"
    "from edgeconsole.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@dataclass
class DemoChild:
    """One simulated piece of hardware running as a child process."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    stderr_tail: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout_s)


def spawn_sim_serial(
    data_dir: Path,
    *,
    rate: float = 50.0,
    baud: int | None = None,
    extra: list[str] | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> DemoChild:
    """Start ``edgeconsole sim serial`` and wait for the port path on its first line."""
    child = launch_sim_serial(data_dir, rate=rate, baud=baud, extra=extra)
    wait_port(child, timeout_s)
    return child


def launch_sim_serial(
    data_dir: Path, *, rate: float = 50.0, baud: int | None = None, extra: list[str] | None = None
) -> DemoChild:
    """Start ``edgeconsole sim serial`` (on a long-lived thread: see PDEATHSIG above)."""
    cmd = [
        sys.executable,
        "-c",
        _CHILD_PRELUDE,
        str(os.getpid()),
        "sim",
        "serial",
        "--data-dir",
        str(data_dir),
        "--rate",
        f"{rate:g}",
    ]
    if baud:
        cmd += ["--baud", str(baud)]
    cmd += extra or []
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    return DemoChild("virtual serial device", proc, "")


def wait_port(child: DemoChild, timeout_s: float = START_TIMEOUT_S) -> str:
    """Read the port path the simulator prints first; sets ``child.url``."""
    proc = child.proc
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout_s
    try:
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                break
            if sel.select(min(left, 0.2)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
    finally:
        sel.close()
    path = line.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if not path:
        err = b""
        child.stop()
        if proc.stderr is not None:
            err = proc.stderr.read()[-2000:]
        raise DeviceError(
            "the virtual serial device did not start",
            subject="edgeconsole sim serial",
            hint=err.decode("utf-8", "replace").strip().splitlines()[-1]
            if err.strip()
            else "run `edgeconsole sim serial` by hand to see why",
        )
    # Nobody reads the child's pipes from now on: a chatty child must not block.
    threading.Thread(
        target=_drain, args=(proc, child), daemon=True, name="edgeconsole-demo-child"
    ).start()
    child.url = f"serial://{path}"
    return child.url


def _drain(proc: subprocess.Popen[bytes], child: DemoChild) -> None:
    assert proc.stderr is not None and proc.stdout is not None
    for raw in proc.stderr:
        child.stderr_tail = [*child.stderr_tail[-19:], raw.decode("utf-8", "replace").rstrip()]


class DemoJob:
    """The demo's hardware, owned by the session: started once, stopped on close."""

    def __init__(self, targets: Any, *, root: Path | None = None) -> None:
        self.targets = targets
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="edgeconsole-demo-"))
        self.children: list[DemoChild] = []
        self.urls: list[str] = []
        self._closed = False
        atexit.register(self.close)

    def start_serial(
        self, *, rate: float = 50.0, baud: int | None = None, background: bool = False
    ) -> str:
        """Start the virtual serial device and connect to it; returns its URL.

        ``background``: return at once (the window must not wait for the child's
        interpreter to start); the device then appears through poll()."""
        child = launch_sim_serial(self.root / "serial", rate=rate, baud=baud)
        self.children.append(child)
        url = self.targets.normalise(str(self.root / "serial" / "tty"))
        self.urls.append(url)
        if not background:
            self._connect(child)
            return url
        threading.Thread(
            target=self._connect_reporting, args=(child,), daemon=True, name="edgeconsole-demo"
        ).start()
        return url

    def _connect(self, child: DemoChild) -> None:
        wait_port(child)
        if not self._closed:
            self.targets.connect(child.url, trust_dir=sample_trust_dir())

    def _connect_reporting(self, child: DemoChild) -> None:
        try:
            self._connect(child)
        except Exception as exc:  # shown in the window's message bar through poll()
            report = getattr(self.targets, "report", None)
            if report is not None:
                report("error", f"demo device: {exc}")

    @staticmethod
    def sample_bundles_dir() -> Path:
        return Path(__file__).resolve().parents[2] / "sample_models" / "bundles"

    @property
    def serial(self) -> DemoChild | None:
        return next((c for c in self.children if c.name == "virtual serial device"), None)

    def summary(self) -> dict[str, Any]:
        return {
            "children": [{"name": c.name, "url": c.url, "alive": c.alive()} for c in self.children],
            "devices": [d for d in self.targets.summaries() if d["url"] in self.urls],
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for url in self.urls:
            with contextlib.suppress(Exception):
                self.targets.disconnect(url)
        for child in self.children:
            child.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)


def start_demo_devices(session: Any, *, rate: float = 50.0, background: bool = False) -> DemoJob:
    """Give ``session`` its demo hardware (once); the session stops it on close."""
    if session.demo is None:
        job = DemoJob(session.targets)
        try:
            job.start_serial(rate=rate, background=background)
        except BaseException:
            job.close()
            raise
        session.demo = job
    return session.demo
