"""The upload endpoints: announce, status, cancel, and the body of each PUT.

A PUT body is received on the event loop and handed to the upload writer thread
in batches (``uploads.UploadWrite``); receiving and hashing overlap. Only one PUT
per upload runs: a newer one, or a cancel, ends the older one first (a stuck or
hostile sender never blocks them). The body must keep a minimum pace
(``bodies.BodyPace``): a trickle is dropped and what arrived is kept.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from edgeconsole.agent.bodies import BodyPace, downgrade_flag, json_body
from edgeconsole.agent.errors import BadRequest
from edgeconsole.agent.journal import AgentJournal
from edgeconsole.agent.upload import UploadManager
from edgeconsole.agent.upload_write import UploadWrite
from edgeconsole.core.errors import EdgeConsoleError

T = TypeVar("T")
#: An upload body is handed to the writer thread in batches of about this many bytes
#: (small enough that the last batch of a request is checked quickly) ...
WRITE_PIECE = 1 << 20
#: ... or this many received pieces, whichever comes first.
WRITE_PIECES = 256


class UploadRoutes:
    def __init__(
        self,
        uploads: UploadManager,
        journal: AgentJournal,
        writer: concurrent.futures.Executor,
        *,
        pace: BodyPace,
        upload_pace: BodyPace,
    ) -> None:
        self.uploads = uploads
        self.journal = journal
        self.writer = writer  # one FIFO thread: every upload state change runs on it
        self.pace = pace
        self.upload_pace = upload_pace
        self._put_tasks: dict[str, asyncio.Task[Any]] = {}

    def add_to(self, router: web.UrlDispatcher, base: str) -> None:
        router.add_post(base, self.begin)
        router.add_get(base + "/{sha}", self.status)
        router.add_put(base + "/{sha}", self.data)
        router.add_delete(base + "/{sha}", self.cancel)

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn)

    async def begin(self, request: web.Request) -> web.Response:
        body = await json_body(request, self.pace)
        sha, length = body.get("sha256"), body.get("length")
        if not isinstance(sha, str) or not isinstance(length, int):
            raise BadRequest("sha256 (hex string) and length (integer) are required")
        down = downgrade_flag(body)
        result = await self._on_writer(
            lambda: self.uploads.begin(sha, length, allow_downgrade=down)
        )
        self.journal.add(
            "upload",
            f"upload of {sha[:12]} at {result['offset']}/{length}"
            + (" (downgrade override requested)" if down else ""),
            allow_downgrade=down,
        )
        return web.json_response(result, headers={"Upload-Offset": str(result["offset"])})

    async def status(self, request: web.Request) -> web.Response:
        result = self.uploads.status(request.match_info["sha"])
        return web.json_response(result, headers={"Upload-Offset": str(result["offset"])})

    async def cancel(self, request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        # A body still arriving for this upload (a stuck or hostile sender) does not
        # block the cancel: its request is ended first, keeping nothing it sent.
        await self.preempt(sha)
        await self._on_writer(lambda: self.uploads.cancel(sha))
        self.journal.add("upload", f"upload of {sha[:12]} cancelled")
        return web.json_response({"cancelled": sha})

    async def data(self, request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        raw = request.headers.get("Upload-Offset", request.query.get("offset"))
        try:
            offset = int(raw) if raw is not None else -1
        except ValueError:
            offset = -1
        if offset < 0:
            raise BadRequest("send the Upload-Offset header (where these bytes start)")
        # A new request for the same upload means the sender gave up on the old one
        # (a cut it noticed first, a half-open link): the newest one wins.
        await self.preempt(sha)
        me = asyncio.current_task()
        assert me is not None
        self._put_tasks[sha] = me
        writer = await self._open_write(sha, offset, me)
        pieces: list[bytes] = []
        held = 0
        failure: BaseException | None = None
        idle = self.upload_pace.idle_s
        tracker = self.upload_pace.tracker()  # a trickle is dropped, not waited for
        loop = asyncio.get_running_loop()
        content = request.content
        # Up to two batches are written and checked on the writer thread while the
        # next one arrives: receiving and hashing overlap. The writer thread is a
        # single FIFO, so the bytes land in order. A batch is the list of pieces as
        # the server received them (written with pwritev: never joined or copied).
        pending: collections.deque[asyncio.Future[None]] = collections.deque()

        async def drain(limit: int) -> None:
            while len(pending) > limit:
                await pending.popleft()

        try:
            try:
                # One idle timer for the whole body, pushed on by every piece (not a
                # timer per read: that cost more CPU than the reading).
                async with asyncio.timeout(idle) as body_idle:
                    while True:
                        piece = await content.readany()
                        if not piece:
                            break
                        body_idle.reschedule(loop.time() + idle)
                        tracker.got(len(piece))
                        pieces.append(piece)
                        held += len(piece)
                        if held >= WRITE_PIECE or len(pieces) >= WRITE_PIECES:
                            batch, pieces, held = pieces, [], 0
                            pending.append(loop.run_in_executor(self.writer, writer.write, batch))
                            await drain(1)
            except (ConnectionError, asyncio.CancelledError, OSError, TimeoutError) as exc:
                failure = exc  # the link dropped: keep what arrived, the client resumes
            except Exception as exc:
                if isinstance(exc, EdgeConsoleError):
                    raise
                failure = exc
            if pieces:
                pending.append(loop.run_in_executor(self.writer, writer.write, pieces))
            await drain(0)
            result = None
            if failure is None:
                result = await self._on_writer(writer.finish_if_complete)
        finally:
            # Queued now (behind the pending writes: one FIFO thread) and awaited shielded:
            # a second cancel while this request ends must not skip closing the writer,
            # whose lock would then block every later PUT and the cancel of this upload.
            closing = loop.run_in_executor(self.writer, writer.__exit__, None, None, None)
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.shield(closing)
            if self._put_tasks.get(sha) is me:
                del self._put_tasks[sha]
        if isinstance(failure, asyncio.CancelledError):
            raise failure
        if failure is not None:
            # The sender is gone; this answer only reaches a client that is still there.
            self.journal.add("upload", f"upload of {sha[:12]} interrupted at {writer.s.offset}")
        if result is not None:
            below = result.get("downgrade_from")
            self.journal.add(
                "upload",
                f"bundle {result.get('bundle_id')} v{result.get('version')}"
                f" staged in slot {result['slot']}"
                + (f" BELOW the installed v{below} (downgrade override)" if below else ""),
                downgrade_from=below,
            )
            return web.json_response(result, headers={"Upload-Offset": str(result["offset"])})
        s = writer.s
        return web.json_response(
            {
                "sha256": sha,
                "length": s.length,
                "offset": s.offset,
                "slot": s.slot,
                "state": "uploading",
            },
            headers={"Upload-Offset": str(s.offset)},
        )

    async def _open_write(self, sha: str, offset: int, me: asyncio.Task[Any]) -> UploadWrite:
        """``open_write`` on the writer thread, for a request that may be preempted while
        it waits there. The open cannot be withdrawn once queued; if this request is
        cancelled meanwhile, the writer it opens is closed before the cancel goes on,
        so the next request (or the DELETE that preempted this one) finds it free."""
        opening = asyncio.get_running_loop().run_in_executor(
            self.writer, self.uploads.open_write, sha, offset
        )
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                opened = await opening
                await self._on_writer(lambda: opened.__exit__(None, None, None))
            if self._put_tasks.get(sha) is me:
                del self._put_tasks[sha]
            raise

    async def preempt(self, sha: str) -> None:
        old = self._put_tasks.get(sha)
        if old is not None and not old.done():
            old.cancel()
            await asyncio.wait({old}, timeout=10)
