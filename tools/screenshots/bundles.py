"""Pictures of the Bundles panel with real data (sample bundles, DEMO key, a real
benchmark and a real FP32-vs-INT8 comparison)::

    QT_QPA_PLATFORM=offscreen python -m tools.screenshots.bundles resources/screenshots

Writes bundles_library.png, bundles_bench.png and bundles_wizard.png. App data and
settings go to a temporary folder; the person's own trust store is never touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tools.screenshots.common import wait


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ec-bundles-shot-") as tmp:
        os.environ["EDGECONSOLE_HOME"] = tmp
        from edgeconsole.bundles.signing import generate_keypair
        from edgeconsole.session import workshop as bj
        from edgeconsole.ui.app import create_application
        from edgeconsole.ui.bundles.panel import BundlesPanel
        from edgeconsole.ui.settings import file_settings

        app = create_application()
        trust = Path(tmp) / "trust"
        bj.import_trust_key(trust, bj.sample_models_dir() / "trust" / "DEMO-ONLY-signing.pub")
        panel = BundlesPanel(file_settings(Path(tmp) / "s.ini"), trust)
        panel.resize(1500, 900)
        panel.show()
        wait(lambda: not panel.scan_runner.running and panel.rows())
        panel.select(bj.default_library_dir() / "digits-1.ecb")
        wait(lambda: panel.inspect_view.info is not None)
        app.processEvents()
        panel.grab().save(str(out / "bundles_library.png"))

        panel.runs.setValue(2000)
        panel.start_bench()
        wait(lambda: panel.bench_view.result is not None)
        app.processEvents()
        panel.grab().save(str(out / "bundles_bench.png"))

        keys = generate_keypair(Path(tmp) / "keys", "site")
        wiz = panel.open_build_wizard()
        wiz.model_page.path.setText(str(bj.sample_models_dir() / "digits" / "model.onnx"))
        wiz.next()
        wiz.next()
        wiz.int8_page.dynamic.setChecked(True)
        wiz.int8_page.start_compare()
        wait(lambda: wiz.int8_page.comparison is not None, 300)
        wiz.sign_page.key.setText(str(keys.private_path))
        app.processEvents()
        wiz.grab().save(str(out / "bundles_wizard.png"))
        panel.shutdown()
        print(f"wrote {out}/bundles_library.png, bundles_bench.png, bundles_wizard.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
