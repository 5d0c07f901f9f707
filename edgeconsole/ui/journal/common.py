"""Small helpers the journal widgets share: time formatting and a role-coloured label."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtGui import QColor

from edgeconsole.ui.theme import COLOURS

LEVEL_COLOURS: dict[str, str] = {
    "debug": COLOURS.text_dim,
    "info": COLOURS.text,
    "warning": COLOURS.warn,
    "error": COLOURS.fail,
}


def level_colour(level: str) -> QColor:
    return QColor(LEVEL_COLOURS.get(level, COLOURS.text))


def fmt_local(ns: int, millis: bool = True) -> str:
    """Wall-clock nanoseconds -> the technician's local time, e.g. 2025-03-01 08:00:01.123."""
    if ns <= 0:
        return "—"
    dt = datetime.fromtimestamp(ns / 1e9)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{dt.microsecond // 1000:03d}" if millis else text


def fmt_iso(ns: int) -> str:
    """Wall-clock nanoseconds -> ISO 8601 with the local UTC offset (for CSV files)."""
    return datetime.fromtimestamp(ns / 1e9).astimezone().isoformat(timespec="milliseconds")


def fmt_ago(ns: int, now_ns: int) -> str:
    """How long ago, in words a person reads at a glance."""
    s = max(0.0, (now_ns - ns) / 1e9)
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} days ago"


def fmt_clock(seconds: float) -> str:
    """Seconds -> m:ss.s (or h:mm:ss for long recordings)."""
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        h, rem = divmod(int(seconds), 3600)
        return f"{h}:{rem // 60:02d}:{rem % 60:02d}"
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"
