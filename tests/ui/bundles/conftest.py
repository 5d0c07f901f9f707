"""Bundles panel fixtures: a panel on a temporary trust store, real sample bundles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

REPO = Path(__file__).resolve().parents[3]
SAMPLE_BUNDLES = REPO / "sample_models" / "bundles"
DEMO_PUB = REPO / "sample_models" / "trust" / "DEMO-ONLY-signing.pub"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A copy of the signed sample bundles that tests may add to or damage."""
    if not any(SAMPLE_BUNDLES.glob("*.ecb")):
        pytest.skip("sample bundles not built: run sample_models/build_bundles.py")
    d = tmp_path / "library"
    d.mkdir()
    for p in SAMPLE_BUNDLES.glob("*.ecb"):
        shutil.copy(p, d / p.name)
    return d


@pytest.fixture
def make_panel(
    qtbot: object, settings: QSettings, tmp_path: Path, library: Path
) -> Iterator[object]:
    from edgeconsole.ui.bundles import BundlesPanel
    from edgeconsole.ui.bundles.panel import LIBRARY_KEY

    made: list[BundlesPanel] = []

    def make(trust_keys: tuple[Path, ...] = (), folder: Path | None = None) -> BundlesPanel:
        from edgeconsole.session.workshop import import_trust_key

        trust = tmp_path / "trust"
        for k in trust_keys:
            import_trust_key(trust, k)
        settings.setValue(LIBRARY_KEY, str(folder or library))
        panel = BundlesPanel(settings, trust)
        qtbot.addWidget(panel)  # type: ignore[attr-defined]
        panel.resize(1400, 900)
        panel.show()
        made.append(panel)
        qtbot.waitUntil(  # type: ignore[attr-defined]
            lambda: not panel.scan_runner.running and bool(panel.rows()), timeout=20_000
        )
        return panel

    yield make
    for p in made:
        p.shutdown()
