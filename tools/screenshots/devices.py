"""Render the device panel and the telemetry view to PNG, against a real virtual device.

    python -m tools.screenshots.devices [--out resources/screenshots]

Starts the demo's virtual serial device (a real ``edgeconsole sim serial`` child)
in a temporary app home, flashes the signed digits sample bundle on trial (the
panel then shows a trial slot and the flash result) while the vibration model
keeps streaming, and writes device_panel.png and telemetry_view.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtTest import QTest

from tools.screenshots.common import save, spin, temp_home


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("resources/screenshots"))
    args = ap.parse_args(list(argv) if argv is not None else None)
    temp_home()
    from PySide6.QtCore import QSettings

    from edgeconsole.ui.app import create_application

    create_application()
    from edgeconsole.session.demo import DemoJob
    from edgeconsole.session.session import Session
    from edgeconsole.ui.main_window import MainWindow

    args.out.mkdir(parents=True, exist_ok=True)
    session = Session()
    settings = QSettings(
        str(Path(os.environ["EDGECONSOLE_HOME"]) / "ui.ini"), QSettings.Format.IniFormat
    )
    window = MainWindow(session, settings)
    try:
        window.resize(1600, 1000)
        window.show()
        ui = window.devices
        assert ui is not None
        ui.start_demo()
        panel, tv = ui.panel, ui.telemetry
        if not spin(lambda: panel.state_label.text() == "Connected", 30):
            raise SystemExit("the demo device did not connect")
        # Let the plots fill a few seconds and the shadow run compare some windows.
        spin(lambda: tv.shadow_status.compared >= 8 and tv._ring.last_t > 8.0, 30)
        tv_dock, panel_dock = ui.telemetry_dock, ui.panel_dock
        tv_dock.setFloating(True)
        tv_dock.resize(1500, 900)
        QTest.qWait(300)
        tv.redraw(force=True)
        shots = [save(tv, args.out, "telemetry_view.png")]
        panel.flash(str(DemoJob.sample_bundles_dir() / "digits-1.ecb"))
        spin(lambda: "Flash done" in panel.progress_text.text(), 60)
        spin(lambda: panel.confirm_button.isEnabled(), 10)
        panel_dock.setFloating(True)
        panel_dock.resize(720, 860)
        QTest.qWait(300)
        shots.append(save(panel, args.out, "device_panel.png"))
        for s in shots:
            print(s)
        return 0
    finally:
        window.close()
        session.close()


if __name__ == "__main__":
    sys.exit(main())
