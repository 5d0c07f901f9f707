"""Read recordings back: a reader with decoded items, a player (play/pause/seek/speed)
and a FrameSource so a recording can also feed the live pipeline.

A recording cut short (crash, kill -9, pulled power) has no summary; it is read
record by record up to its last complete chunk and rewritten to a recovered
copy, so seeking works on it like on any finished file. The person is told how
much was recovered.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.records import Attachment, Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from edgeconsole.core.clock import now_ns
from edgeconsole.core.errors import JournalError, SourceError
from edgeconsole.core.frames import Frame, InferenceResult, LatencySample
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded
from edgeconsole.journal.codec import latency_from_dict, result_from_dict

RECORD_LIMIT = 64 * 1024 * 1024  # no single record of ours comes near this
KNOWN_TOPICS = (
    "/camera",
    "/overlay",
    "/results",
    "/latency",
    "/telemetry",
    "/events",
    "/camera_frames",
    "/camera_stats",
)


@dataclass
class RecordingInfo:
    path: Path
    start_ns: int
    end_ns: int
    counts: dict[str, int]
    metadata: dict[str, dict[str, str]]
    attachments: dict[str, bytes]
    recovered_from: Path | None = None  # set when the original was cut short
    problem: str | None = None

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def frames(self) -> int:
        return self.counts.get("/camera", 0)


@dataclass
class ReplayItem:
    topic: str
    t_ns: int
    frame: Frame | None = None
    result: InferenceResult | None = None
    latency: LatencySample | None = None
    data: dict[str, Any] | None = None  # telemetry, event, overlay


@dataclass
class ReplayBatch:
    """What one ``ReplaySource.poll`` hands to the window: everything due since the last poll."""

    position_ns: int
    playing: bool
    ended: bool
    frame: Frame | None = None
    result: InferenceResult | None = None
    latency: list[LatencySample] = field(default_factory=list)
    telemetry: list[tuple[int, str, dict[str, float]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped_frames: int = 0  # frames due but replaced by a newer one (display slower than data)


def _bad(path: Path, what: str) -> JournalError:
    return JournalError(
        what, subject=str(path), hint="the file is not an EdgeConsole recording or is damaged"
    )


def recover(src: Path, dst: Path) -> tuple[int, str | None]:
    """Copy every complete record of ``src`` into a finished MCAP at ``dst``.

    Returns (messages recovered, why reading stopped or None when the file was whole).
    """
    problem: str | None = None
    count = 0
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    with open(src, "rb") as fh, open(dst, "wb") as out:
        w = Writer(out, compression=CompressionType.ZSTD)
        header_done = False
        new_schema: dict[int, int] = {}
        new_channel: dict[int, int] = {}
        try:
            for rec in StreamReader(fh, record_size_limit=RECORD_LIMIT).records:
                if not header_done:
                    w.start(profile="edgeconsole", library="edgeconsole recover")
                    header_done = True
                if isinstance(rec, Schema) and rec.id not in schemas:
                    schemas[rec.id] = rec
                    new_schema[rec.id] = w.register_schema(rec.name, rec.encoding, rec.data)
                elif isinstance(rec, Channel) and rec.id not in channels:
                    channels[rec.id] = rec
                    new_channel[rec.id] = w.register_channel(
                        rec.topic,
                        rec.message_encoding,
                        new_schema.get(rec.schema_id, 0),
                        dict(rec.metadata),
                    )
                elif isinstance(rec, Message) and rec.channel_id in new_channel:
                    w.add_message(
                        new_channel[rec.channel_id],
                        rec.log_time,
                        rec.data,
                        rec.publish_time,
                        rec.sequence,
                    )
                    count += 1
                elif isinstance(rec, Metadata):
                    w.add_metadata(rec.name, dict(rec.metadata))
                elif isinstance(rec, Attachment):
                    w.add_attachment(
                        rec.create_time, rec.log_time, rec.name, rec.media_type, rec.data
                    )
        except (McapError, ValueError, KeyError, EOFError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # zstd/lz4 errors on a torn chunk have their own types
            problem = f"{type(exc).__name__}: {exc}"
        if not header_done:
            w.start(profile="edgeconsole", library="edgeconsole recover")
        w.finish()
    return count, problem


class RecordingReader:
    """Open a recording (recovering a cut-short one) and read decoded items in time order."""

    def __init__(self, path: Path, *, workdir: Path | None = None) -> None:
        self.original = Path(path)
        if not self.original.is_file():
            raise JournalError("recording not found", subject=str(path))
        self.path = self.original
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        recovered_from = None
        problem = None
        if not self._is_whole(self.original):
            self._tmp = tempfile.TemporaryDirectory(prefix="edgeconsole-recover-", dir=workdir)
            fixed = Path(self._tmp.name) / self.original.name
            n, problem = recover(self.original, fixed)
            self.path = fixed
            recovered_from = self.original
            problem = (
                f"recording was cut short; {n} messages recovered up to the last complete chunk"
                + (f" ({problem})" if problem else "")
            )
        self._fh = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._reader = make_reader(self._fh)
            summary = self._reader.get_summary()
            if summary is None:
                raise _bad(self.original, "recording has no summary")
            topics = {cid: c.topic for cid, c in summary.channels.items()}
            counts: dict[str, int] = {}
            stats = summary.statistics
            if stats is not None:
                for cid, n in stats.channel_message_counts.items():
                    counts[topics.get(cid, "?")] = counts.get(topics.get(cid, "?"), 0) + n
            metadata = {m.name: dict(m.metadata) for m in self._reader.iter_metadata()}
            attachments = {a.name: bytes(a.data) for a in self._reader.iter_attachments()}
            start = stats.message_start_time if stats else 0
            end = stats.message_end_time if stats else 0
        except JournalError:
            self._fh.close()
            raise
        except Exception as exc:
            self._fh.close()
            raise _bad(
                self.original, f"cannot read recording ({type(exc).__name__}: {exc})"
            ) from exc
        self.info = RecordingInfo(
            self.original, start, end, counts, metadata, attachments, recovered_from, problem
        )

    @staticmethod
    def _is_whole(path: Path) -> bool:
        try:
            with open(path, "rb") as fh:
                r = make_reader(fh)
                return r.get_summary() is not None
        except Exception:
            return False

    def items(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        topics: tuple[str, ...] | None = None,
        decode_images: bool = True,
    ) -> Iterator[ReplayItem]:
        try:
            for _schema, channel, msg in self._reader.iter_messages(
                topics=list(topics) if topics else None, starting_at=start_ns, ending_at=end_ns
            ):
                item = self._decode(channel.topic, msg, decode_images)
                if item is not None:
                    yield item
        except JournalError:
            raise
        except (McapError, OSError, ValueError) as exc:
            raise _bad(
                self.original, f"cannot read recording ({type(exc).__name__}: {exc})"
            ) from exc

    def _decode(self, topic: str, msg: Message, decode_images: bool) -> ReplayItem | None:
        if topic not in KNOWN_TOPICS:
            return None  # another program's channel: skip, never fail on it
        try:
            payload = loads_bounded(msg.data, max_bytes=RECORD_LIMIT, what="message")
        except JSONRefused as exc:
            raise _bad(self.original, f"message on {topic} is not JSON") from exc
        if not isinstance(payload, dict):
            raise _bad(self.original, f"message on {topic} is not an object")
        t = msg.log_time
        if topic == "/camera":
            frame_id = payload.get("frame_id", "")
            source, _, idx = str(frame_id).rpartition("#")
            index = int(idx) if idx.isdigit() else msg.sequence
            image = self._image(payload) if decode_images else np.zeros((1, 1, 3), np.uint8)
            return ReplayItem(topic, t, frame=Frame(index, image, t, source or "replay"))
        if topic == "/results":
            return ReplayItem(topic, t, result=result_from_dict(payload))
        if topic == "/latency":
            return ReplayItem(topic, t, latency=latency_from_dict(payload))
        return ReplayItem(topic, t, data=payload)

    def _image(self, payload: dict[str, Any]) -> np.ndarray:
        data = payload.get("data")
        if not isinstance(data, str):
            raise _bad(self.original, "frame has no image data")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad(self.original, "frame image is not base64") from exc
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise _bad(self.original, f"frame image cannot be decoded as {payload.get('format')}")
        return image

    def close(self) -> None:
        self._fh.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplaySource:
    """A player over a recording. The window calls ``poll()`` on its display timer.

    Time is virtual: position advances with the monotonic clock times ``speed``
    while playing. ``seek`` jumps anywhere; the next poll shows the first frame
    at or after that point even when paused.
    """

    def __init__(self, reader: RecordingReader, clock: Callable[[], int] = now_ns) -> None:
        self.reader = reader
        self._clock = clock
        self.start_ns = reader.info.start_ns
        self.end_ns = reader.info.end_ns
        self._pos = self.start_ns
        self._anchor_clock = clock()
        self._playing = False
        self._speed = 1.0
        self._it: Iterator[ReplayItem] | None = None
        self._peek: ReplayItem | None = None
        self._want_frame = True
        self._ended = False
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- controls
    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def position_ns(self) -> int:
        with self._lock:
            return self._position()

    def _position(self) -> int:
        if not self._playing:
            return self._pos
        return self._pos + int((self._clock() - self._anchor_clock) * self._speed)

    def play(self) -> None:
        with self._lock:
            if self._ended:
                self._seek(self.start_ns)
            if not self._playing:
                self._anchor_clock = self._clock()
                self._playing = True

    def pause(self) -> None:
        with self._lock:
            self._pos = min(self._position(), self.end_ns)
            self._playing = False

    def set_speed(self, speed: float) -> None:
        if not (0.05 <= speed <= 64.0):
            raise ValueError("speed must be between 0.05 and 64")
        with self._lock:
            self._pos = self._position()
            self._anchor_clock = self._clock()
            self._speed = float(speed)

    def seek(self, t_ns: int) -> None:
        with self._lock:
            self._seek(t_ns)

    def seek_fraction(self, fraction: float) -> None:
        self.seek(self.start_ns + int(max(0.0, min(1.0, fraction)) * (self.end_ns - self.start_ns)))

    def _seek(self, t_ns: int) -> None:
        self._pos = max(self.start_ns, min(int(t_ns), self.end_ns))
        self._anchor_clock = self._clock()
        self._it = None
        self._peek = None
        self._want_frame = True
        self._ended = False

    # --------------------------------------------------------------------- poll
    def _next(self) -> ReplayItem | None:
        if self._peek is not None:
            item, self._peek = self._peek, None
            return item
        if self._it is None:
            self._it = self.reader.items(start_ns=self._pos)
        return next(self._it, None)

    def poll(self) -> ReplayBatch:
        with self._lock:
            pos = self._position()
            batch = ReplayBatch(
                position_ns=min(pos, self.end_ns), playing=self._playing, ended=False
            )
            results: dict[int, InferenceResult] = {}
            while True:
                item = self._next()
                if item is None:
                    self._ended = True
                    if self._playing:
                        self._pos = self.end_ns
                        self._playing = False
                    batch.position_ns = (
                        self.end_ns if self._ended and batch.frame is None else batch.position_ns
                    )
                    break
                due = item.t_ns <= pos
                # After a seek, show the first frame even if it lies a little ahead.
                if not due and self._want_frame and item.topic != "/camera":
                    due = True
                elif not due and self._want_frame and item.topic == "/camera":
                    due = True
                    if not self._playing:
                        self._pos = item.t_ns
                    batch.position_ns = item.t_ns
                    pos = item.t_ns
                if not due:
                    self._peek = item
                    break
                self._apply(batch, item, results)
                if item.topic == "/camera":
                    self._want_frame = False
            if batch.frame is not None:
                batch.result = results.get(batch.frame.index)
            batch.ended = self._ended
            batch.playing = self._playing
            return batch

    @staticmethod
    def _apply(batch: ReplayBatch, item: ReplayItem, results: dict[int, InferenceResult]) -> None:
        if item.frame is not None:
            if batch.frame is not None:
                batch.skipped_frames += 1
            batch.frame = item.frame
        elif item.result is not None:
            results[item.result.frame_index] = item.result
        elif item.latency is not None:
            batch.latency.append(item.latency)
        elif item.topic == "/telemetry" and item.data is not None:
            values = item.data.get("values")
            if isinstance(values, dict):
                clean = {
                    str(k): float(v)
                    for k, v in values.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
                batch.telemetry.append((item.t_ns, str(item.data.get("target", "")), clean))
        elif item.topic == "/events" and item.data is not None:
            batch.events.append({**item.data, "t_ns": item.t_ns})


class ReplayFrameSource:
    """A recording as a FrameSource (``core.source``): frames at their recorded pace
    (``realtime``) or as fast as read, e.g. to run a new model against old footage."""

    def __init__(self, path: Path, *, realtime: bool = True, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.name = f"replay:{self.path.name}"
        self.realtime = realtime
        self.speed = speed
        self._reader: RecordingReader | None = None
        self._it: Iterator[ReplayItem] | None = None
        self._closed = threading.Event()
        self._t0: tuple[int, int] | None = None
        self._fps: float | None = None

    def open(self) -> None:
        try:
            self._reader = RecordingReader(self.path)
        except JournalError as exc:
            raise SourceError(exc.what, subject=str(self.path), hint=exc.hint) from exc
        info = self._reader.info
        if info.frames and info.duration_s > 0:
            self._fps = info.frames / info.duration_s
        self._it = self._reader.items(topics=("/camera",))

    def read(self) -> Frame | None:
        if self._it is None or self._closed.is_set():
            return None
        try:
            item = next(self._it, None)
        except JournalError as exc:
            raise SourceError(exc.what, subject=str(self.path), hint=exc.hint) from exc
        if item is None or item.frame is None:
            return None
        started = now_ns()
        if self.realtime:
            if self._t0 is None:
                self._t0 = (item.t_ns, started)
            due = self._t0[1] + int((item.t_ns - self._t0[0]) / self.speed)
            wait = (due - now_ns()) / 1e9
            if wait > 0 and self._closed.wait(wait):
                return None
        frame = item.frame
        frame.capture_started_ns = started
        frame.captured_ns = now_ns()
        frame.source = self.name
        return frame

    def close(self) -> None:
        self._closed.set()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._it = None

    @property
    def nominal_fps(self) -> float | None:
        return self._fps


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll ``cond`` until true or ``timeout``; used by the CLI replay loop."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
