"""The demo's simulated hardware: a virtual serial device and a gateway agent.

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

The gateway: ``edgeconsole agent --host 127.0.0.1 --port 0`` (the kernel picks a
free port; the agent prints it on its first line) with a temporary data folder
and token file, the demo trust key, hardware id ``gateway-x86_64`` and a
synthetic conveyor camera. Once connected, the demo flashes (and confirms) the
sample fast inspector (label orientation) bundle on it, so its camera decides
each part and its stream has results; headless, a :class:`StreamMonitor` measures that stream. Same
child rules as the serial device.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
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
#: The demo gateway's camera: the conveyor again, another seed, a gentler rate (the
#: laptop runs the same model on its own conveyor at the same time).
DEMO_GATEWAY_CAMERA = "synthetic:conveyor?seed=11&fps=12"
DEMO_GATEWAY_HARDWARE = "gateway-x86_64"
#: The fast inspector, like the laptop's own line: the gateway decides each part once.
DEMO_GATEWAY_BUNDLE = "label-orientation-1.ecb"
#: What the demo gateway runs when the fast bundle fails its health check there.
DEMO_GATEWAY_FALLBACK = "label-inspector-1.ecb"
#: Connecting and flashing the demo gateway (health check included) may take this long.
GATEWAY_READY_TIMEOUT_S = 90.0


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


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def launch_child(what: str, args: list[str]) -> DemoChild:
    """Start ``edgeconsole ARGS...`` as a demo child: its own process group, stdin
    closed, stdout and stderr piped (the first line is its address), PDEATHSIG armed
    by the prelude so it dies with this process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD_PRELUDE, str(os.getpid()), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=_child_env(),
    )
    return DemoChild(what, proc, "")


def launch_agent(
    data_dir: Path, token_file: Path, *, camera: str = DEMO_GATEWAY_CAMERA
) -> DemoChild:
    """Start ``edgeconsole agent`` on 127.0.0.1 and a free port (read it with
    :func:`wait_agent`). Like the simulator: own process group, PDEATHSIG."""
    args = [
        "agent",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--token-file",
        str(token_file),
        "--trust-dir",
        str(sample_trust_dir()),
        "--hardware-id",
        DEMO_GATEWAY_HARDWARE,
        "--camera",
        camera,
        "--name",
        "demo-gateway",
    ]
    return launch_child("gateway agent", args)


def make_token_file(path: Path) -> str:
    """A fresh token in a 0600 file (the agent reads it; never printed)."""
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def wait_agent(child: DemoChild, timeout_s: float = START_TIMEOUT_S) -> str:
    """Read the agent's "listening" line; sets and returns ``child.url`` (gateway://)."""
    line = _first_line(child, timeout_s)
    try:
        event = json.loads(line)
        url = str(event["url"])
    except (ValueError, KeyError, TypeError):
        url = ""
    if not url.startswith("http://127.0.0.1:"):
        _fail_start(child, "the demo gateway agent did not start", "edgeconsole agent")
    child.url = "gateway://" + url.removeprefix("http://")
    return child.url


def _first_line(child: DemoChild, timeout_s: float) -> str:
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
    text = line.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if text:
        # Nobody reads the child's pipes from now on: a chatty child must not block.
        threading.Thread(
            target=_drain, args=(proc, child), daemon=True, name="edgeconsole-demo-child"
        ).start()
    return text


def _fail_start(child: DemoChild, what: str, command: str) -> None:
    err = b""
    child.stop()
    if child.proc.stderr is not None:
        err = child.proc.stderr.read()[-2000:]
    raise DeviceError(
        what,
        subject=command,
        hint=err.decode("utf-8", "replace").strip().splitlines()[-1]
        if err.strip()
        else f"run `{command}` by hand to see why",
    )


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
    args = [
        "sim",
        "serial",
        "--data-dir",
        str(data_dir),
        "--rate",
        f"{rate:g}",
    ]
    if baud:
        args += ["--baud", str(baud)]
    args += extra or []
    return launch_child("virtual serial device", args)


def wait_port(child: DemoChild, timeout_s: float = START_TIMEOUT_S) -> str:
    """Read the port path the simulator prints first; sets ``child.url``."""
    path = _first_line(child, timeout_s)
    if not path:
        _fail_start(child, "the virtual serial device did not start", "edgeconsole sim serial")
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
        #: The demo gateway: its URL once the agent listens, set "ready" once its
        #: camera runs the sample bundle; ``monitor`` measures its stream (headless).
        self.gateway_url = ""
        self.gateway_ready = threading.Event()
        self.gateway_error = ""
        #: Why the demo gateway does not run the fast inspector ("" when it does).
        self.gateway_note = ""
        self.monitor: Any = None
        atexit.register(self.close)

    def start_serial(
        self, *, rate: float = 50.0, baud: int | None = None, background: bool = False
    ) -> str:
        """Start the virtual serial device and connect to it; returns its URL.

        ``background``: return at once (the window must not wait for the child's
        interpreter to start); the device then appears through poll()."""
        from edgeconsole.session.session import DEMO_SOURCE

        # The device has a photo-eye on the demo conveyor (an external trigger source).
        child = launch_sim_serial(
            self.root / "serial", rate=rate, baud=baud, extra=["--photo-eye", DEMO_SOURCE]
        )
        self.children.append(child)
        url = str(self.targets.normalise(str(self.root / "serial" / "tty")))
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

    def start_gateway(self, *, background: bool = False, monitor: bool = False) -> None:
        """Start the gateway agent, connect it, flash the sample fast inspector
        and (``monitor``) measure its stream. ``background``: return at once; the
        gateway appears through poll() and ``gateway_ready`` is set when it runs."""
        data = self.root / "agent"
        token = make_token_file(self.root / "agent-token")
        child = launch_agent(data, self.root / "agent-token")
        self.children.append(child)
        if not background:
            self._bring_up_gateway(child, token, monitor)
            return
        threading.Thread(
            target=self._gateway_reporting,
            args=(child, token, monitor),
            daemon=True,
            name="edgeconsole-demo-gateway",
        ).start()

    def _bring_up_gateway(self, child: DemoChild, token: str, monitor: bool) -> None:
        from edgeconsole.session.gateway_stream import StreamMonitor
        from edgeconsole.session.targets import wait_for

        url = wait_agent(child)
        if self._closed:
            return
        key = self.targets.connect(url, trust_dir=sample_trust_dir(), token=token, remember=False)
        self.gateway_url = key
        self.urls.append(key)
        deadline = time.monotonic() + GATEWAY_READY_TIMEOUT_S

        def state() -> str:
            view = self.targets.view(key)
            return view.state if view is not None else "closed"

        if not wait_for(lambda: self._closed or state() in ("connected", "error"), 30.0):
            raise DeviceError("the demo gateway did not answer", subject=key)
        if self._closed:
            return
        view = self.targets.view(key)
        if view is None or view.state != "connected":
            raise DeviceError(f"the demo gateway did not connect: {view.error if view else ''}")
        if view.running is None:
            message = self._flash_gateway(key, DEMO_GATEWAY_BUNDLE, deadline)
            if message is not None and "health check" in message:
                # The fast bundle's 5 ms budget is checked on the gateway (p95 of its
                # golden crops); on a machine too busy to meet it, the agent rolls it
                # back. The demo goes on with the label inspector and says why.
                why = re.search(r"p95 latency [^)]*", message)
                self.gateway_note = (
                    "the fast inspector did not pass its health check there"
                    + (f" ({why.group(0)}: this machine is busy)" if why else "")
                    + "; it runs the label inspector instead"
                )
                message = self._flash_gateway(key, DEMO_GATEWAY_FALLBACK, deadline)
            if message is not None:
                raise DeviceError(
                    f"the demo gateway could not take the sample bundle: {message}", subject=key
                )
        if monitor:
            self.monitor = StreamMonitor(key, 0, token, loop=self.targets.io)
        self.gateway_ready.set()

    def _flash_gateway(self, key: str, bundle: str, deadline: float) -> str | None:
        """Flash and confirm a sample bundle; None once it runs, else why not."""
        from edgeconsole.session.targets import wait_for

        job = self.targets.flash(key, self.sample_bundles_dir() / bundle, mode="confirm")

        def finished() -> bool:
            p = self.targets.job(job)
            return self._closed or (p is not None and p.finished)

        left = max(deadline - time.monotonic(), 1.0)
        if not wait_for(finished, left, step_s=0.1):
            raise DeviceError("flashing the demo gateway took too long", subject=key)
        p = self.targets.job(job)
        if self._closed or (p is not None and p.state == "done"):
            return None
        return p.message if p is not None else "the flash job vanished"

    def _gateway_reporting(self, child: DemoChild, token: str, monitor: bool) -> None:
        try:
            self._bring_up_gateway(child, token, monitor)
        except Exception as exc:  # shown in the window's message bar through poll()
            self.gateway_error = str(exc)
            report = getattr(self.targets, "report", None)
            if report is not None and not self._closed:
                report("error", f"demo gateway: {exc}")

    @property
    def gateway(self) -> DemoChild | None:
        return next((c for c in self.children if c.name == "gateway agent"), None)

    def wait_gateway(self, timeout_s: float = GATEWAY_READY_TIMEOUT_S) -> bool:
        return self.gateway_ready.wait(timeout_s)

    @staticmethod
    def sample_bundles_dir() -> Path:
        return Path(__file__).resolve().parents[2] / "sample_models" / "bundles"

    @property
    def serial(self) -> DemoChild | None:
        return next((c for c in self.children if c.name == "virtual serial device"), None)

    def summary(self) -> dict[str, Any]:
        devices = [d for d in self.targets.summaries() if d["url"] in self.urls]
        for d in devices:
            if d["url"] == self.gateway_url:
                d["stream"] = self.monitor.summary() if self.monitor is not None else None
                if self.gateway_error:
                    d["error"] = self.gateway_error
                if self.gateway_note:
                    d["note"] = self.gateway_note
        return {
            "children": [{"name": c.name, "url": c.url, "alive": c.alive()} for c in self.children],
            "devices": devices,
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.monitor is not None:
            with contextlib.suppress(Exception):
                self.monitor.close()
        for url in self.urls:
            with contextlib.suppress(Exception):
                self.targets.disconnect(url)
        for child in self.children:
            child.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)


def start_demo_devices(
    session: Any, *, rate: float = 50.0, background: bool = False, gateway: bool = True
) -> DemoJob:
    """Give ``session`` its demo hardware (once); the session stops it on close.

    ``gateway``: also the gateway agent, flashed with the fast inspector; not in
    the background its stream is measured (``summary()``) once it runs."""
    if session.demo is None:
        job = DemoJob(session.targets)
        try:
            job.start_serial(rate=rate, background=background)
            if gateway:
                job.start_gateway(background=background, monitor=not background)
        except BaseException:
            job.close()
            raise
        session.demo = job
    return job
