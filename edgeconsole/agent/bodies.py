"""Request bodies from outside: bounded in size, read at a minimum pace, JSON parsed
with bounded depth.

A body that stops for ``idle_s``, or brings fewer than ``min_bytes`` in any
``window_s`` (a trickle that keeps an idle timer alive), is dropped: a control or
infer request with 408, an upload by ending its request (what it received is kept,
so a real client on a bad link resumes).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from edgeconsole.agent.errors import BadRequest, PayloadTooLarge, RequestTimeout
from edgeconsole.core.jsonsafe import JSONRefused, loads_bounded

#: A control request (activate, begin an upload, index) is a few dozen bytes of JSON.
MAX_CONTROL_BODY = 64 * 1024


@dataclass(frozen=True)
class BodyPace:
    """How slowly a request body may arrive before it is dropped."""

    idle_s: float = 30.0
    window_s: float = 10.0
    min_bytes: int = 16 * 1024

    def tracker(self) -> PaceTracker:
        return PaceTracker(self)


class SlowBody(TimeoutError):
    """The body trickled in slower than the agent accepts."""


class PaceTracker:
    def __init__(self, pace: BodyPace) -> None:
        self.pace = pace
        self._loop = asyncio.get_running_loop()
        self._window_start = self._loop.time()
        self._window_bytes = 0

    def got(self, n: int) -> None:
        """Count ``n`` bytes that just arrived; raise :class:`SlowBody` when the
        last full window brought too few."""
        self._window_bytes += n
        now = self._loop.time()
        if now - self._window_start >= self.pace.window_s:
            if self._window_bytes < self.pace.min_bytes:
                raise SlowBody(
                    f"the body arrived at {self._window_bytes} bytes in "
                    f"{now - self._window_start:.0f} s"
                )
            self._window_start, self._window_bytes = now, 0


async def read_body(request: web.Request, *, max_bytes: int, pace: BodyPace) -> bytes:
    """The whole body, at most ``max_bytes`` (413 beyond), arriving at ``pace`` (408
    when it stops or trickles)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge(
            f"the request body is {declared} bytes, over the limit of {max_bytes}"
        )
    pieces: list[bytes] = []
    total = 0
    tracker = pace.tracker()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(pace.idle_s) as idle:
            while piece := await request.content.readany():
                idle.reschedule(loop.time() + pace.idle_s)
                tracker.got(len(piece))
                total += len(piece)
                if total > max_bytes:
                    raise PayloadTooLarge(f"the request body is over the limit of {max_bytes}")
                pieces.append(piece)
    except TimeoutError as exc:
        raise RequestTimeout(
            "the request body stopped arriving"
            + (f" ({exc})" if isinstance(exc, SlowBody) else f" for {pace.idle_s:g} s"),
            hint="send the whole body without pausing",
        ) from None
    return b"".join(pieces)


async def json_body(
    request: web.Request, pace: BodyPace, *, allow_empty: bool = False
) -> dict[str, Any]:
    raw = await read_body(request, max_bytes=MAX_CONTROL_BODY, pace=pace)
    if not raw.strip() and allow_empty:
        return {}
    try:
        body = loads_bounded(raw, max_bytes=MAX_CONTROL_BODY, what="the request body")
    except JSONRefused as exc:
        raise BadRequest(exc.what, hint="send a small JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def downgrade_flag(body: dict[str, Any]) -> bool:
    value = body.get("allow_downgrade", False)
    if not isinstance(value, bool):
        raise BadRequest("allow_downgrade must be true or false")
    return value
