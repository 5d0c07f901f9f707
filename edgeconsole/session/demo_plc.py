"""The demo's line PLC: ``edgeconsole sim plc`` as a child, answered by the demo's line.

The virtual PLC follows the belt the demo's camera films (``--belt DEMO_SOURCE``,
a conveyor on the machine's clock), so it raises its trigger when a part's centre
reaches the camera's centre line, as the demo device's photo-eye does. The
session answers it (``Session.start_plc(..., "gate")``) with the decision of the
part at the line, whatever trigger the line runs on: the PLC view shows every
part's handshake. Same child rules as the demo's other hardware
(own process group, PDEATHSIG, stopped with the session's ``DemoJob``).
"""

from __future__ import annotations

import threading
from typing import Any

from edgeconsole.devices.plc.plcmap import sample_map_path
from edgeconsole.session.demo import (
    START_TIMEOUT_S,
    DemoChild,
    DemoJob,
    _fail_start,
    _first_line,
    launch_child,
)
from edgeconsole.session.session import DEMO_SOURCE

#: The demo conveyor: on the machine's clock, so a PLC in another process follows it.
DEMO_PLC_SOURCE = DEMO_SOURCE


def launch_sim_plc(source: str = DEMO_PLC_SOURCE) -> DemoChild:
    """Start ``edgeconsole sim plc --belt SOURCE`` on a free loopback port."""
    args = [
        "sim",
        "plc",
        "--port",
        "0",
        "--belt",
        source,
        "--map",
        str(sample_map_path()),
    ]
    return launch_child("virtual PLC", args)


def wait_plc(child: DemoChild, timeout_s: float = START_TIMEOUT_S) -> str:
    """Read the address the virtual PLC prints first; sets ``child.url``."""
    url = _first_line(child, timeout_s)
    if not url.startswith("modbus://127.0.0.1:"):
        _fail_start(child, "the demo's virtual PLC did not start", "edgeconsole sim plc")
    child.url = url
    return url


def start_demo_plc(session: Any, *, background: bool = False) -> DemoChild:
    """Start the demo PLC and answer it with the session's line.

    ``background``: return at once; the PLC connects on a thread and a failure is
    an event in the window's log. The session's line must run on ``DEMO_PLC_SOURCE``."""
    if session.demo is None:
        session.demo = DemoJob(session.targets)
    job: DemoJob = session.demo
    child = launch_sim_plc()
    job.children.append(child)

    def connect() -> None:
        url = wait_plc(child)
        session.start_plc(url, sample_map_path(), "gate", wait=not background)

    if not background:
        connect()
        return child

    def run() -> None:
        try:
            connect()
        except Exception as exc:  # reported in the window, the demo goes on without it
            session._event("error", f"demo PLC: {exc}", "plc")

    threading.Thread(target=run, name="edgeconsole-demo-plc", daemon=True).start()
    return child
