"""Uploads that keep the line busy: the next chunk goes out while the last is written.

Stop-and-wait (send a chunk, wait for its answer, send the next) leaves the
line idle for every answer's round trip; on a loaded laptop or a slow device
that is 10-15 % of an upload. A device that reports more than one SMP buffer
(``buf_count`` in its MCUmgr parameters) can hold the next request while it
handles the current one, as nRF Connect Device Manager's pipelined uploads rely
on. Here at most ``window`` requests are in flight; answers come back in order
and each must confirm exactly the offset its chunk ends at. Anything else (a
chunk the device dropped, an error, silence) stops the pipeline: the answers
still owed are drained, and the caller resumes from the offset the device
holds, as after any lost frame.

Requests and answers are the ``smp``/``smpclient`` message classes; chunks are
sized with ``SMPClient.get_max_cbor_and_data_size`` to fill the device's buffer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from smpclient.generics import error

#: Requests in flight at most (one being handled, one arriving: Zephyr's UART transport
#: has two receive buffers by default).
MAX_WINDOW = 2


class Resync(Exception):
    """The pipeline stopped; the device holds ``offset`` (None: ask it)."""

    def __init__(self, offset: int | None, answer: Any = None) -> None:
        super().__init__(f"resync at {offset}")
        self.offset = offset
        self.answer = answer  # the error answer that stopped it, if any


def window_for(buf_count: int) -> int:
    return max(1, min(MAX_WINDOW, buf_count))


def chunk(client: Any, cls: type, off: int, data: bytes, **fields: Any) -> Any:
    """The request of ``cls`` at ``off`` carrying as much of ``data`` as the device's
    buffer holds (the other fields as given)."""
    _, room = client.get_max_cbor_and_data_size(cls(off=off, data=b"", **fields))
    return cls(off=off, data=data[off : off + max(0, room)], **fields)


def parse(req: Any, frame: bytes) -> Any:
    """The answer to ``req`` as smpclient reads it: success, else error v1, else v2."""
    for kind in (req._Response, req._ErrorV1, req._ErrorV2):
        try:
            return kind.loads(frame)
        except ValidationError:
            continue
    raise Resync(None)  # not a valid answer to it: ask the device where it is


async def send_chunks(
    client: Any,
    transport: Any,
    *,
    start: int,
    total: int,
    make: Callable[[int], Any],
    window: int,
    timeout_s: float,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Send ``make(off)`` from ``start`` until the device confirms ``total``; returns the
    last answer. Raises :class:`Resync` when the device's offset is not the expected one
    (or an error answer, or silence), after draining the answers still owed."""
    inflight: deque[tuple[Any, int]] = deque()
    sent = start
    last: Any = None
    while True:
        while len(inflight) < window and sent < total:
            req = make(sent)
            size = len(req.data)
            if size == 0:
                raise Resync(None)  # no room for data: the buffer is too small to go on
            await transport.send_pipelined(req.BYTES)
            inflight.append((req, sent + size))
            sent += size
        if not inflight:
            return last
        req, expect = inflight[0]
        try:
            frame = await asyncio.wait_for(
                transport.receive_for({r.header.sequence for r, _ in inflight}), timeout_s
            )
        except TimeoutError:
            await _drain(transport, inflight, timeout_s)
            raise Resync(None) from None
        if frame[6] != req.header.sequence:
            await _drain(transport, inflight, timeout_s)
            raise Resync(None)  # answers out of order: start over from the device's offset
        inflight.popleft()
        answer = parse(req, frame)
        if error(answer) or getattr(answer, "off", None) is None:
            await _drain(transport, inflight, timeout_s)
            raise Resync(None, answer)
        off = int(answer.off)
        if off != expect:
            await _drain(transport, inflight, timeout_s)
            raise Resync(off)
        last = answer
        if progress is not None:
            progress(off)


async def _drain(transport: Any, inflight: deque[tuple[Any, int]], timeout_s: float) -> None:
    """Wait (briefly) for the answers still owed, so none answers a later request."""
    owed = {r.header.sequence for r, _ in inflight}
    inflight.clear()
    while owed:
        try:
            frame = await asyncio.wait_for(transport.receive_for(owed), min(timeout_s, 2.0))
        except TimeoutError:
            return
        owed.discard(frame[6])
