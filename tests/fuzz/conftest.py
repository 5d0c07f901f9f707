"""Reports how many examples each fuzz test ran (``EDGECONSOLE_FUZZ_REPORT=path`` also
writes them as JSON, which docs/RELIABILITY.md quotes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fuzz._settings import COUNTS, LONG


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.write_sep("-", f"fuzz examples ({'long' if LONG else 'quick'} mode)")
    for name, n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{n:>9,d}  {name}")
    out = os.environ.get("EDGECONSOLE_FUZZ_REPORT")
    if out:
        path = Path(out)
        old = json.loads(path.read_text()) if path.exists() else {}
        old.update(COUNTS)
        path.write_text(json.dumps(old, indent=2, sort_keys=True))
