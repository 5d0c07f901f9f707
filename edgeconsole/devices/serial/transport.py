"""An ``smpclient`` transport over a serial port that survives a hostile line.

Differences from ``smpclient``'s own serial transport, each for a field reason:

- Reads are event driven (``loop.add_reader`` on the port), not 5 ms polling.
- Lines that are not SMP (the device's log and telemetry) go to ``on_text``.
- A frame with bad base64 or a bad CRC, a continuation without a start, or an
  oversized frame is dropped and counted; the decoder resyncs on the next start
  line. A request then times out and the caller retries: nothing corrupt is
  ever accepted.
- A response whose sequence number is not the one awaited (a late answer to a
  timed-out request) is dropped instead of failing the next request.
- Every way pyserial reports an unplug (``SerialException``, bare ``OSError``,
  ``termios.error``; ``is_open`` stays true) becomes one ``DeviceDisconnected``,
  reported once through ``on_disconnect``.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import os
import termios
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

import serial
from smp import packet as smppacket
from smpclient.transport import SMPTransport

from edgeconsole.core.errors import DeviceDisconnected
from edgeconsole.devices.serial.ports import explain_open_error

#: Every exception type pyserial lets through when a device disappears.
UNPLUG_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
LINE_LENGTH = 128  # SMP console convention
MAX_LINE = 8192
DEFAULT_BUF = 256


@dataclass
class LinkStats:
    frames: int = 0
    bad_crc: int = 0
    bad_base64: int = 0
    orphan: int = 0
    oversized: int = 0
    stale: int = 0  # responses with an unexpected sequence number
    rx_bytes: int = 0
    tx_bytes: int = 0


def _starts_a_frame(body: bytes | bytearray) -> bool:
    """Whether ``body`` (after a start delimiter) can open an SMP frame: base64 that
    holds at least the two-byte length."""
    try:
        return len(binascii.a2b_base64(body.rstrip(b"\r"), strict_mode=True)) >= 2
    except (binascii.Error, ValueError):
        return False


class ClientLineDecoder:
    """Splits the byte stream into SMP frames (checked) and plain text lines."""

    def __init__(self, stats: LinkStats, max_frame: int = 65535) -> None:
        self.stats = stats
        self.max_frame = max_frame
        self._line = bytearray()
        self._skip = False
        # Part of a text line was handed on and its newline has not come yet: what
        # follows is more of that line, whatever bytes it starts with.
        self._text_open = False
        self._frame: bytearray | None = None
        self._expect = 0

    def feed(self, data: bytes) -> tuple[list[bytes], bytes]:
        frames: list[bytes] = []
        text = bytearray()
        buf = self._line + data if self._line else data
        self._line = bytearray()
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                rest = buf[start:]
                if self._skip:
                    pass
                elif len(rest) > MAX_LINE:
                    self._skip = True
                    self.stats.oversized += 1
                elif (
                    not rest or rest[:1] == b"\x06" or (rest[:1] == b"\x04" and not self._text_open)
                ):
                    self._line = bytearray(rest)  # maybe SMP: wait for its end
                else:
                    text += rest  # text: hand on now, the parser keeps partial lines
                    self._text_open = True
                return frames, bytes(text)
            line = buf[start:nl]
            start = nl + 1
            continuing, self._text_open = self._text_open, False
            if self._skip:
                self._skip = False
                continue
            restart = line.rfind(smppacket.START_DELIMITER)
            if (restart > 0 or (restart == 0 and continuing)) and _starts_a_frame(
                line[restart + 2 :]
            ):
                # A frame interrupted a text line: the text before it was cut short. (A
                # delimiter followed by anything else is just bytes of that text line.)
                text += line[:restart] + b"\n"
                line = line[restart:]
            elif continuing:
                text += line + b"\n"
                continue
            head = line[:2]
            if head == smppacket.START_DELIMITER or head == smppacket.CONTINUE_DELIMITER:
                frame = self._smp_line(bytes(head), bytes(line[2:]))
                if frame is not None:
                    frames.append(frame)
            else:
                text += line
                text += b"\n"

    def _smp_line(self, head: bytes, body: bytes) -> bytes | None:
        try:
            raw = binascii.a2b_base64(body.rstrip(b"\r"), strict_mode=True)
        except (binascii.Error, ValueError):
            self.stats.bad_base64 += 1
            self._frame = None
            return None
        if head == smppacket.START_DELIMITER:
            if len(raw) < 2:
                self._frame = None
                return None
            self._expect = smppacket.FRAME_LENGTH_STRUCT.unpack(raw[:2])[0]
            if not 2 <= self._expect <= self.max_frame:
                self.stats.oversized += 1
                self._frame = None
                return None
            self._frame = bytearray(raw[2:])
        else:
            if self._frame is None:
                self.stats.orphan += 1
                return None
            self._frame += raw
        if len(self._frame) < self._expect:
            return None
        frame, self._frame = bytes(self._frame), None
        if len(frame) != self._expect:
            self.stats.oversized += 1
            return None
        body_bytes = frame[:-2]
        if smppacket.crc16_func(body_bytes) != smppacket.CRC16_STRUCT.unpack(frame[-2:])[0]:
            self.stats.bad_crc += 1
            return None
        self.stats.frames += 1
        return body_bytes


class EdgeSerialTransport(SMPTransport):
    def __init__(
        self,
        *,
        baud: int = 115200,
        on_text: Callable[[bytes], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        exclusive: bool = True,
    ) -> None:
        self.baud = baud
        self.on_text = on_text
        self.on_disconnect = on_disconnect
        self.exclusive = exclusive
        self.stats = LinkStats()
        self.port: serial.Serial | None = None
        self.path = ""
        self._smp_server_transport_buffer_size: int | None = None
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._lost: str | None = None
        self._lost_event = asyncio.Event()
        self._expect_seq: int | None = None
        self._decoder = ClientLineDecoder(self.stats)
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- connection ------------------------------------------------------------------
    async def connect(self, address: str, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.path = address
        port: serial.Serial | None = None
        try:
            port = serial.Serial(
                address, self.baud, timeout=0, write_timeout=0, exclusive=self.exclusive
            )
            port.reset_input_buffer()
        except UNPLUG_ERRORS as exc:
            if port is not None:
                # Opened (and locked) but gone at once: close it now, not whenever the
                # exception's frame is collected, or the lock outlives the attempt.
                close_once(port)
            raise explain_open_error(address, exc) from exc
        self.port = port
        self._lost = None
        self._lost_event = asyncio.Event()
        self._frames = asyncio.Queue()
        self._decoder = ClientLineDecoder(self.stats)
        self._loop.add_reader(port.fileno(), self._readable)

    async def disconnect(self) -> None:
        self._close_port()

    def _close_port(self) -> None:
        port, self.port = self.port, None
        if port is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(port.fd)
        close_once(port)

    def _lose(self, why: str) -> None:
        """The one place an unplug is turned into an event (once per connection)."""
        if self._lost is not None:
            return
        self._lost = why
        self._lost_event.set()
        self._close_port()
        if self.on_disconnect is not None:
            self.on_disconnect(why)

    @property
    def connected(self) -> bool:
        return self.port is not None and self._lost is None

    def _raise_lost(self) -> None:
        raise DeviceDisconnected(
            f"device went away ({self._lost})",
            subject=self.path,
            hint="check the cable; EdgeConsole reconnects when it is back",
        )

    # -- reading ---------------------------------------------------------------------
    def _readable(self) -> None:
        port = self.port
        if port is None:
            return
        try:
            waiting = port.in_waiting
            data = port.read(waiting or 1)
        except UNPLUG_ERRORS as exc:
            self._lose(f"{type(exc).__name__}: {exc}")
            return
        if not data:
            return
        self.stats.rx_bytes += len(data)
        frames, text = self._decoder.feed(data)
        if text and self.on_text is not None:
            self.on_text(text)
        for f in frames:
            self._frames.put_nowait(f)

    # -- smpclient transport API ----------------------------------------------------
    async def send(self, data: bytes) -> None:
        if not self.connected:
            self._raise_lost()
        if len(data) > self.max_unencoded_size:
            raise ValueError(f"message of {len(data)} B exceeds {self.max_unencoded_size} B")
        self._expect_seq = data[6] if len(data) >= 8 else None
        # A stale response still queued must not answer this request.
        while not self._frames.empty():
            self._frames.get_nowait()
            self.stats.stale += 1
        wire = b"".join(smppacket.encode(data, line_length=LINE_LENGTH))
        await self._write(wire)

    async def _write(self, wire: bytes) -> None:
        view = memoryview(wire)
        assert self._loop is not None
        while view:
            port = self.port
            if port is None or self._lost is not None:
                self._raise_lost()
            assert port is not None
            try:
                n = os.write(port.fd, view)
            except BlockingIOError:
                n = 0
            except UNPLUG_ERRORS as exc:
                self._lose(f"{type(exc).__name__}: {exc}")
                self._raise_lost()
            self.stats.tx_bytes += n
            view = view[n:]
            if view:
                ready: asyncio.Future[None] = self._loop.create_future()
                fd = port.fd

                def wake(f: asyncio.Future[None] = ready) -> None:
                    if not f.done():
                        f.set_result(None)

                self._loop.add_writer(fd, wake)
                try:
                    lost = asyncio.ensure_future(self._lost_event.wait())
                    waits: set[asyncio.Future[Any]] = {ready, lost}
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    lost.cancel()
                finally:
                    with contextlib.suppress(Exception):
                        self._loop.remove_writer(fd)

    async def send_pipelined(self, data: bytes) -> None:
        """Write one request while earlier ones still await their answers (no queued
        answer is dropped; :meth:`receive_for` picks the answers by sequence number)."""
        if not self.connected:
            self._raise_lost()
        if len(data) > self.max_unencoded_size:
            raise ValueError(f"message of {len(data)} B exceeds {self.max_unencoded_size} B")
        self._expect_seq = None
        await self._write(b"".join(smppacket.encode(data, line_length=LINE_LENGTH)))

    async def receive_for(self, sequences: Container[int]) -> bytes:
        """The next answer whose sequence number is one of ``sequences`` (others are
        stale: counted and dropped)."""
        while True:
            frame = await self._next_answer()
            if frame[6] in sequences:
                return frame
            self.stats.stale += 1

    async def _next_frame(self) -> bytes:
        """The next decoded frame; DeviceDisconnected once the link is lost and every
        frame received before the loss has been taken."""
        if self._frames.empty() and self._lost is not None:
            self._raise_lost()
        getter = asyncio.ensure_future(self._frames.get())
        lost = asyncio.ensure_future(self._lost_event.wait())
        try:
            done, _ = await asyncio.wait({getter, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not getter.done():
                getter.cancel()
        if getter not in done or getter.cancelled():
            self._raise_lost()
        return getter.result()

    async def _next_answer(self) -> bytes:
        while True:
            frame = await self._next_frame()
            if len(frame) >= 8 and frame[0] & 0b111 in (1, 3):
                return frame
            self.stats.stale += 1  # a request echoed back or garbage: not an answer

    async def receive(self) -> bytes:
        while True:
            frame = await self._next_frame()
            if self._expect_seq is not None and len(frame) >= 8 and frame[6] != self._expect_seq:
                self.stats.stale += 1
                continue
            if len(frame) >= 8 and frame[0] & 0b111 in (1, 3):
                return frame
            self.stats.stale += 1  # a request echoed back or garbage: not an answer

    async def send_and_receive(self, data: bytes) -> bytes:
        await self.send(data)
        return await self.receive()

    def initialize(self, smp_server_transport_buffer_size: int) -> None:
        self._smp_server_transport_buffer_size = smp_server_transport_buffer_size

    @property
    def mtu(self) -> int:
        return self._smp_server_transport_buffer_size or DEFAULT_BUF

    @property
    def max_unencoded_size(self) -> int:
        # The device's buffer holds the decoded frame: length (2) + message + CRC (2).
        return self.mtu - 4


_ABORT_PIPES = (
    "pipe_abort_read_r",
    "pipe_abort_read_w",
    "pipe_abort_write_r",
    "pipe_abort_write_w",
)


def close_once(port: serial.Serial) -> None:
    """Close ``port``, and never again, whatever ``close()`` reports.

    Linux frees a descriptor even when ``close()`` fails (EIO on a tty whose device
    vanished), but pyserial then keeps the number and closes it again when the object is
    collected: that second close hits whatever file reused the number meanwhile, on any
    thread (suspected in CI: the stock simulator's boot.json renamed into place empty).
    So on a failed close the number is forgotten; the abort pipes, still ours, are closed.
    """
    try:
        port.close()
    except UNPLUG_ERRORS:
        port.fd = None
        for name in _ABORT_PIPES:
            fd = getattr(port, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(port, name, None)
        port.is_open = False
