"""Shared test set-up. Fixtures of each area live in tests/fixtures/<area>.py and are
registered here, so any test can use the pty device, the loopback agent, the
sample bundles or the signing keys."""

from __future__ import annotations

import os

# Qt aborts without a display; every test runs offscreen unless told otherwise.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins: list[str] = [
    "tests.fixtures.journal",
    "tests.fixtures.sources",
    "tests.fixtures.bundles",
    "tests.fixtures.onnx_models",
    "tests.fixtures.gateway",
    "tests.fixtures.serial",
]
