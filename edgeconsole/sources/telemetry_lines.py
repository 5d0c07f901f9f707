"""Telemetry lines: what an Arduino ``println`` gives (DESIGN section 4.1).

One reading per line, numbers separated by commas or tabs; ``#`` lines carry the
channel names (``# ax,ay,az,temp_c``); ``@`` lines are events (``@trigger,17,123456``:
a photo-eye edge, its number, the device's clock in µs; see devices/serial/README.md).
Anything else is the device's log and is kept as text. The parser is fed raw bytes
as they arrive, keeps at most one partial line, and never holds more than
``max_line`` bytes of it: a longer line is dropped (and counted) up to its newline,
so a device spewing garbage without newlines cannot grow memory. Every rejected line
is counted, never hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeconsole.core.clock import now_ns

MAX_LINE = 1024
MAX_CHANNELS = 64
MAX_NAME = 48


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    t_ns: int  # monotonic arrival time of the chunk holding the line
    values: tuple[float, ...]


@dataclass(slots=True)
class TelemetryStats:
    lines: int = 0
    samples: int = 0
    headers: int = 0
    log_lines: int = 0
    oversized: int = 0  # lines longer than max_line (dropped)
    malformed: int = 0  # numeric-looking lines that did not parse, or too many channels
    mismatched: int = 0  # samples whose width differs from the header
    nonfinite: int = 0  # values that were nan/inf (kept as nan)
    events: int = 0  # @ lines (photo-eye edges and the like)


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """An ``@name,field,...`` line: ``t_ns`` is when its chunk arrived (monotonic)."""

    t_ns: int
    name: str
    fields: tuple[str, ...]


MAX_EVENT_FIELDS = 8


def parse_event(line: bytes, t_ns: int) -> DeviceEvent | None:
    """``@trigger,17,123456`` -> DeviceEvent; None when malformed (counted by callers)."""
    body = line.strip()
    if not body.startswith(b"@") or len(body) > MAX_LINE:
        return None
    try:
        text = body[1:].decode("ascii")
    except UnicodeDecodeError:
        return None
    parts = text.split(",")
    name = parts[0].strip()
    if not name or not name.isidentifier() or len(parts) > MAX_EVENT_FIELDS + 1:
        return None
    return DeviceEvent(t_ns, name, tuple(p.strip() for p in parts[1:]))


class EventTap:
    """Finds ``@`` lines in raw chunks as they arrive (on the reader's thread, before
    the pump batches them): an edge's decision must not wait for the next batch.

    Keeps at most one partial line of ``MAX_LINE`` bytes; anything longer is skipped
    up to its newline. ``on_event`` must be quick."""

    def __init__(self, on_event: Callable[[DeviceEvent], None]) -> None:
        self.on_event = on_event
        self._partial = b""
        self._skipping = False  # inside an oversized line, until its newline
        self.malformed = 0

    def feed(self, t_ns: int, data: bytes) -> None:
        buf = self._partial + data
        self._partial = b""
        if self._skipping:
            nl = buf.find(b"\n")
            if nl < 0:
                return
            buf = buf[nl + 1 :]
            self._skipping = False
        lines = buf.split(b"\n")
        tail = lines.pop()
        for line in lines:
            if not line.lstrip().startswith(b"@"):
                continue
            ev = parse_event(line, t_ns)
            if ev is None:
                self.malformed += 1
            else:
                self.on_event(ev)
        if len(tail) > MAX_LINE:
            self._skipping = True
        else:
            self._partial = tail


@dataclass(slots=True)
class ParsedChunk:
    samples: list[TelemetrySample] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    events: list[DeviceEvent] = field(default_factory=list)
    header_changed: bool = False


def _looks_numeric(first: int) -> bool:
    # digits, sign, dot: a line starting otherwise is text (a log line)
    return 48 <= first <= 57 or first in (43, 45, 46)


class TelemetryParser:
    """Incremental, bounded parser of telemetry lines."""

    def __init__(self, *, max_line: int = MAX_LINE, max_channels: int = MAX_CHANNELS) -> None:
        self.max_line = max_line
        self.max_channels = max_channels
        self.channels: tuple[str, ...] = ()
        self.stats = TelemetryStats()
        self._partial = b""
        self._skipping = False  # inside an oversized line, until its newline

    def feed(self, data: bytes, t_ns: int | None = None) -> ParsedChunk:
        out = ParsedChunk()
        if not data:
            return out
        stamp = now_ns() if t_ns is None else t_ns
        lines = data.split(b"\n")
        tail = lines.pop()
        if self._partial or self._skipping:
            if lines:
                first = lines[0]
                if self._skipping:
                    lines[0] = b""
                    self._skipping = False
                    self.stats.oversized += 1
                    self.stats.lines += 1
                    lines.pop(0)
                elif len(self._partial) + len(first) > self.max_line:
                    self._partial = b""
                    self.stats.oversized += 1
                    self.stats.lines += 1
                    lines.pop(0)
                else:
                    lines[0] = self._partial + first
                self._partial = b""
            else:
                tail = self._partial + tail
                self._partial = b""
        if self._skipping:
            tail = b""
        elif len(tail) > self.max_line:
            self._skipping = True
            tail = b""
        self._partial = tail
        self._parse_lines(lines, stamp, out)
        return out

    def _parse_lines(self, lines: list[bytes], stamp: int, out: ParsedChunk) -> None:
        stats = self.stats
        max_line = self.max_line
        width = len(self.channels)
        append = out.samples.append
        for raw in lines:
            stats.lines += 1
            line = raw.strip()
            if not line:
                continue
            if len(line) > max_line:
                stats.oversized += 1
                continue
            first = line[0]
            if first == 35:  # '#'
                self._header(line[1:], out)
                width = len(self.channels)
                continue
            if first == 64:  # '@': an event line, not a reading and not the log
                ev = parse_event(line, stamp)
                if ev is None:
                    stats.malformed += 1
                else:
                    stats.events += 1
                    out.events.append(ev)
                continue
            if not _looks_numeric(first):
                stats.log_lines += 1
                out.logs.append(line.decode("utf-8", "replace"))
                continue
            parts = line.replace(b"\t", b",").split(b",")
            if len(parts) > self.max_channels:
                stats.malformed += 1
                continue
            try:
                values = tuple(map(float, parts))
            except ValueError:
                stats.malformed += 1
                continue
            if b"_" in line:  # float() accepts 1_000; a device never prints it
                stats.malformed += 1
                continue
            total = sum(values)
            if total != total or total in (math.inf, -math.inf):
                # Keep the sample (a sensor reporting nan is information) but
                # make every bad value a nan, so plots and statistics stay sane.
                clean = tuple(v if math.isfinite(v) else math.nan for v in values)
                stats.nonfinite += sum(1 for v in values if not math.isfinite(v))
                values = clean
            if width and len(values) != width:
                stats.mismatched += 1
            stats.samples += 1
            append(TelemetrySample(stamp, values))

    def _header(self, body: bytes, out: ParsedChunk) -> None:
        text = body.decode("utf-8", "replace").strip()
        names = [n.strip() for n in text.replace("\t", ",").split(",")]
        if not text or len(names) > self.max_channels or not all(names):
            self.stats.malformed += 1
            return
        # A name is shown in the window: keep it printable and short.
        clean = tuple("".join(ch for ch in n if ch.isprintable())[:MAX_NAME] for n in names)
        self.stats.headers += 1
        if clean != self.channels:
            self.channels = clean
            out.header_changed = True

    def channel_names(self, width: int) -> tuple[str, ...]:
        """Names for a sample of ``width`` values (header names, padded with ch<i>)."""
        names = list(self.channels[:width])
        names += [f"ch{i}" for i in range(len(names), width)]
        return tuple(names)
