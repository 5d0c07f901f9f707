"""Render the window with the demo's gateway connected and its stream live, to PNG.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python -m tools.screenshots.gateway [--out resources/screenshots]

Runs what ``edgeconsole demo`` runs (a temporary app home): the demo starts a
real ``edgeconsole agent`` child, connects it, flashes the signed label
inspector sample on it and switches the live view to its camera's stream. Once
frames and network latency have arrived for a while, the whole window is
written to gateway_stream.png.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtTest import QTest

from tools.screenshots.common import save, spin, temp_home


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("resources/screenshots"))
    ap.add_argument("--settle", type=float, default=12.0, help="seconds of stream first")
    args = ap.parse_args(list(argv) if argv is not None else None)
    home = temp_home()
    from PySide6.QtCore import QSettings

    from edgeconsole.ui.app import create_application

    create_application()
    from edgeconsole.session.session import Session
    from edgeconsole.ui.main_window import MainWindow

    args.out.mkdir(parents=True, exist_ok=True)
    session = Session(interactive=True)
    settings = QSettings(str(home / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(session, settings)
    try:
        window.resize(1600, 1000)
        window.show()
        window.start_demo()
        ui = window.devices
        assert ui is not None
        if not spin(lambda: window.source.startswith("gateway://"), 120):
            raise SystemExit("the demo gateway did not come up")
        if not spin(
            lambda: window.status.state == "running" and window.live_view.frame_index > 0, 60
        ):
            raise SystemExit(f"no stream: {window.status.error}")
        spin(lambda: window.latency.table.cell_text("network", "p50") != "—", 30)
        QTest.qWait(int(args.settle * 1000))
        window.latency.redraw()
        QTest.qWait(300)
        print(save(window, args.out, "gateway_stream.png"))
        print(
            f"fps {window.status.fps:.1f}  network p50 "
            f"{window.latency.table.cell_text('network', 'p50')} ms  p99 "
            f"{window.latency.table.cell_text('network', 'p99')} ms  e2e p50 "
            f"{window.latency.table.cell_text('e2e', 'p50')} ms"
        )
        return 0
    finally:
        window.close()
        session.close()


if __name__ == "__main__":
    sys.exit(main())
