"""Run the window for a while and save a picture of it.

    python -m tools.screenshots.live_view OUT.png --seconds 5 --demo

Uses fresh, temporary settings so the picture shows the default layout and
never the person's own. Under Xvfb use ``QT_QPA_PLATFORM=xcb`` for real window
decorations and fonts; offscreen works too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer

from edgeconsole.ui.app import create_application
from edgeconsole.ui.settings import file_settings


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.screenshots.live_view")
    p.add_argument("out", type=Path, help="PNG file to write")
    p.add_argument("--seconds", type=float, default=5.0, help="run this long before grabbing")
    p.add_argument("--demo", action="store_true", help="start the demo pipeline first")
    p.add_argument("--size", default="1600x1000", help="window size WxH")
    p.add_argument("--source", default=None, help="start on this source instead of the demo")
    p.add_argument("--model", default=None, help="model for --source")
    p.add_argument(
        "--front", choices=("latency", "telemetry"), default="latency", help="dock tab in front"
    )
    p.add_argument("--tab", default=None, help="show this workspace tab (PLC, Bundles, ...)")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    app = create_application()
    from edgeconsole.session.session import Session
    from edgeconsole.ui.main_window import MainWindow

    result = {"code": 1}
    with tempfile.TemporaryDirectory(prefix="edgeconsole-shot-") as tmp:
        session = Session()
        window = MainWindow(session, file_settings(Path(tmp) / "settings.ini"))
        try:
            window.resize(width, height)
            window.show()
            if args.source:
                window.choose_source(args.source)
                if args.model:
                    window.choose_model(args.model)
                window.start()
            elif args.demo:
                window.start_demo()

            def front_latency() -> None:
                # The live view's picture: latency in front (unless asked otherwise) even
                # if the demo device's telemetry tab was raised when it connected.
                if args.front == "telemetry":
                    window.devices.telemetry_dock.raise_()
                else:
                    window.latency_dock.raise_()

            def grab() -> None:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                ok = window.grab().save(str(args.out))
                result["code"] = 0 if ok else 1
                print(
                    f"{'wrote' if ok else 'could not write'} {args.out} "
                    f"({window.width()}x{window.height()}, state {window.status.state}, "
                    f"frames {window.status.frames})"
                )
                window.close()
                app.quit()

            QTimer.singleShot(max(0, int(args.seconds * 1000) - 1500), front_latency)
            if args.tab:
                QTimer.singleShot(500, lambda: window.workspaces.show_panel(args.tab))
            QTimer.singleShot(int(args.seconds * 1000), grab)
            app.exec()
        finally:
            if window.poll_loop is not None:
                window.poll_loop.stop()
            session.close()
    return result["code"]


if __name__ == "__main__":
    raise SystemExit(main())
