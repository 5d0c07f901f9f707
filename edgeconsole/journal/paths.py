"""Where the console keeps its own files: journal, key, settings, recordings.

``EDGECONSOLE_HOME`` overrides everything (tests and portable installs use it);
otherwise the XDG data directory. Nothing here is created until someone asks.
"""

from __future__ import annotations

import os
from pathlib import Path


def app_data_dir() -> Path:
    home = os.environ.get("EDGECONSOLE_HOME")
    if home:
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "edgeconsole"


def journal_dir() -> Path:
    return app_data_dir() / "journal"


def recordings_dir() -> Path:
    return app_data_dir() / "recordings"


def reports_dir() -> Path:
    """Signed commissioning reports; the evidence pack exporter takes them (reports/)."""
    return app_data_dir() / "reports"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path
