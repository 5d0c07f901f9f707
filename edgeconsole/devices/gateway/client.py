"""The agent's own endpoints: info, slots, resumable upload, trial, journal.

Upload: the client announces (hash, length), asks where to continue and sends the
rest in sized PUTs of at most ``REQUEST_BYTES``, each starting where the agent's
answer to the previous one said. A dropped TCP connection, a restarted agent or a link
that silently stops carrying bytes (half-open: a watchdog notices that no byte
was taken for ``stall_s``) all end the same way: ask the agent for its offset
and continue from there, until ``deadline_s`` runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeconsole.core.errors import Cancelled, DeviceDisconnected, DeviceError, EdgeConsoleError
from edgeconsole.devices.gateway.http import AuthError, GatewayHTTPError, loads_gateway_json
from edgeconsole.devices.gateway.oip import AsyncOipClient, OipClient
from edgeconsole.devices.loop import LoopThread

#: The body of one request is handed to aiohttp in pieces of this size.
PIECE = 1 << 20
#: The most one PUT carries. Each request has a Content-Length (a sized body costs
#: the agent about half the CPU of a chunked one) and starts where the agent's
#: answer to the previous one said; a cut loses at most what was in flight.
REQUEST_BYTES = 32 << 20
E = "/v2/edgeconsole"


@dataclass
class UploadProgress:
    sent: int
    total: int
    bytes_per_s: float
    resumes: int
    phase: str = "upload"
    transmitted: int = 0  # bytes put on the wire over all attempts


ProgressCb = Callable[[UploadProgress], None]


class UploadFailed(DeviceError):
    """The upload could not be completed (the agent refused it or stayed unreachable)."""


def sha256_of(data: bytes | Path) -> str:
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).hexdigest()
    h = hashlib.sha256()
    with Path(data).open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


class _Source:
    """Bytes or a file, read from an offset."""

    def __init__(self, data: bytes | Path) -> None:
        self.data = data
        self.length = (
            len(data) if isinstance(data, bytes | bytearray) else Path(data).stat().st_size
        )

    async def chunks(
        self, offset: int, end: int, on_piece: Callable[[int], None]
    ) -> AsyncIterator[bytes]:
        """Bytes ``offset..end`` in pieces; exactly ``end - offset`` of them (the
        request's Content-Length), or an error."""
        if isinstance(self.data, bytes | bytearray):
            view = memoryview(self.data)
            for pos in range(offset, end, PIECE):
                piece = bytes(view[pos : min(pos + PIECE, end)])
                yield piece
                on_piece(len(piece))
            return
        with Path(self.data).open("rb") as fh:
            fh.seek(offset)
            left = end - offset
            while left:
                block = fh.read(min(PIECE, left))
                if not block:
                    raise UploadFailed(
                        "the bundle file got shorter while it was being sent",
                        subject=str(self.data),
                        hint="do not change the file during an upload; run it again",
                    )
                left -= len(block)
                yield block
                on_piece(len(block))


class AsyncGatewayClient(AsyncOipClient):
    async def info(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(E + "/info")
        return data

    async def slots(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(E + "/slots")
        return data

    async def activate(
        self,
        slot: int,
        *,
        confirm: bool = False,
        timeout_s: float | None = None,
        allow_downgrade: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"confirm": confirm}
        if allow_downgrade:
            body["allow_downgrade"] = True
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        wait = (timeout_s or 60.0) + 60.0  # the health check runs before the answer
        data: dict[str, Any] = await self.post_json(
            f"{E}/slots/{slot}/activate", body, timeout_s=wait
        )
        return data

    async def confirm(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.post_json(E + "/slots/confirm")
        return data

    async def rollback(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.post_json(E + "/slots/rollback", timeout_s=120.0)
        return data

    async def journal(self, since: int = 0, limit: int = 200) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(f"{E}/journal?since={since}&limit={limit}")
        return data

    async def upload_status(self, sha: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(f"{E}/uploads/{sha}")
        return data

    async def cancel_upload(self, sha: str) -> None:
        await self.request("DELETE", f"{E}/uploads/{sha}")

    async def upload(
        self,
        data: bytes | Path,
        *,
        sha256: str | None = None,
        progress: ProgressCb | None = None,
        stall_s: float = 10.0,
        deadline_s: float = 300.0,
        retry_s: float = 0.2,
        allow_downgrade: bool = False,
    ) -> dict[str, Any]:
        """Upload a bundle into the inactive slot, resuming across failures.
        ``allow_downgrade``: the agent may stage a version below its confirmed one
        (it journals that it was asked to)."""
        announce: dict[str, Any] = {"sha256": "", "length": 0}
        if allow_downgrade:
            announce["allow_downgrade"] = True
        src = _Source(data)
        sha = sha256 or sha256_of(data)
        start = time.monotonic()
        resumes = 0
        sent_total = 0
        self._transmitted = 0
        starts: list[int] = []
        state: dict[str, Any] | None = None
        while True:
            try:
                if state is None:
                    state = await self.post_json(
                        E + "/uploads", {**announce, "sha256": sha, "length": src.length}
                    )
                if state.get("state") != "uploading":
                    if progress:
                        progress(
                            UploadProgress(
                                src.length, src.length, 0.0, resumes, "done", self._transmitted
                            )
                        )
                    return {
                        **state,
                        "resumes": resumes,
                        "transmitted": self._transmitted,
                        "starts": starts,
                    }
                offset = int(state["offset"])
                starts.append(offset)
                state = await self._put(sha, src, offset, stall_s, progress, resumes)
                sent_total = int(state["offset"])
                if sent_total <= offset and state.get("state") == "uploading":
                    # A whole request and no byte taken: do not loop on it forever.
                    if time.monotonic() - start > deadline_s:
                        raise UploadFailed(
                            f"the gateway takes no more bytes at offset {offset}",
                            subject=self.base,
                            hint="run the same command again to resume",
                        )
                    await asyncio.sleep(retry_s)
            except GatewayHTTPError as exc:
                off = exc.body.get("offset")
                if exc.status in (409, 422) and isinstance(off, int) and "upload" not in exc.body:
                    resumes += 1  # a resend from where the agent stands (bad chunk, sync)
                    state = {"state": "uploading", "offset": off}
                    if time.monotonic() - start > deadline_s:
                        raise UploadFailed(
                            f"upload kept failing: {exc.what}", subject=self.base
                        ) from exc
                    continue
                if isinstance(exc, AuthError):
                    raise
                raise UploadFailed(exc.what, subject=self.base, hint=exc.hint) from exc
            except (DeviceDisconnected, _Stalled) as exc:
                resumes += 1
                if time.monotonic() - start > deadline_s:
                    raise UploadFailed(
                        f"the gateway stayed unreachable for {deadline_s:g} s "
                        f"({sent_total}/{src.length} bytes there)",
                        subject=self.base,
                        hint="run the same command again to resume",
                    ) from exc
                await asyncio.sleep(retry_s)
                await self.aclose()  # fresh connections after a cut or a stall
                state = await self._resync(sha)

    async def _resync(self, sha: str) -> dict[str, Any] | None:
        try:
            return await self.upload_status(sha)
        except DeviceDisconnected:
            return {"state": "uploading", "offset": -1, "_unknown": True}
        except GatewayHTTPError as exc:
            if exc.status == 404:
                return None  # the agent lost the session: start it again
            raise

    async def _put(
        self,
        sha: str,
        src: _Source,
        offset: int,
        stall_s: float,
        progress: ProgressCb | None,
        resumes: int,
    ) -> dict[str, Any]:
        """One PUT of at most ``REQUEST_BYTES`` from ``offset``; the agent's answer."""
        if offset < 0:
            raise DeviceDisconnected("offset unknown", subject=self.base)
        end = min(src.length, offset + REQUEST_BYTES)
        last = time.monotonic()
        sent = offset
        t0 = time.monotonic()

        def on_piece(n: int) -> None:
            nonlocal last, sent
            last = time.monotonic()
            sent += n
            self._transmitted += n
            if progress:
                elapsed = max(time.monotonic() - t0, 1e-6)
                progress(
                    UploadProgress(
                        sent,
                        src.length,
                        (sent - offset) / elapsed,
                        resumes,
                        transmitted=self._transmitted,
                    )
                )

        async def send() -> dict[str, Any]:
            _, _, body = await self.request(
                "PUT",
                f"{E}/uploads/{sha}",
                data=src.chunks(offset, end, on_piece),
                headers={
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(end - offset),
                },
                timeout_s=max(stall_s, 1.0) + 120.0,
            )
            result: dict[str, Any] = loads_gateway_json(body, self.base)
            return result

        task = asyncio.ensure_future(send())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=min(stall_s / 4, 1.0))
                if done:
                    return task.result()
                # Once every byte went out, the agent verifies the bundle: allow for
                # that (about 20 MB/s of hashing at worst), then call the link dead.
                quiet = time.monotonic() - last
                if sent < end and quiet > stall_s:
                    raise _Stalled()
                if sent >= end and quiet > 4 * stall_s + src.length / 20e6:
                    raise _Stalled()
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass


class _Stalled(Exception):
    """No byte was taken by the link for ``stall_s``: treat as a cut."""


class GatewayClient(OipClient):
    """Synchronous face of :class:`AsyncGatewayClient`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        loop: LoopThread | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout_s=timeout_s, loop=loop)
        self.aio: AsyncGatewayClient = AsyncGatewayClient(base_url, token, timeout_s=timeout_s)

    def info(self) -> dict[str, Any]:
        return dict(self._run(self.aio.info()))

    def slots(self) -> dict[str, Any]:
        return dict(self._run(self.aio.slots()))

    def activate(
        self,
        slot: int,
        *,
        confirm: bool = False,
        timeout_s: float | None = None,
        allow_downgrade: bool = False,
    ) -> dict[str, Any]:
        return dict(
            self._run(
                self.aio.activate(
                    slot, confirm=confirm, timeout_s=timeout_s, allow_downgrade=allow_downgrade
                )
            )
        )

    def confirm(self) -> dict[str, Any]:
        return dict(self._run(self.aio.confirm()))

    def rollback(self) -> dict[str, Any]:
        return dict(self._run(self.aio.rollback()))

    def journal(self, since: int = 0, limit: int = 200) -> dict[str, Any]:
        return dict(self._run(self.aio.journal(since, limit)))

    def upload_status(self, sha: str) -> dict[str, Any]:
        return dict(self._run(self.aio.upload_status(sha)))

    def cancel_upload(self, sha: str) -> None:
        self._run(self.aio.cancel_upload(sha))

    def upload(
        self, data: bytes | Path, *, cancel: threading.Event | None = None, **kw: Any
    ) -> dict[str, Any]:
        """``AsyncGatewayClient.upload``; ``cancel`` being set stops it at once (the task
        on the loop is cancelled) and asks the agent to drop the partial upload."""
        if cancel is None:
            return dict(self._run(self.aio.upload(data, **kw)))
        try:
            return dict(
                self._loop.run_cancellable(
                    self.aio.upload(data, **kw), cancel, subject=self.aio.base
                )
            )
        except Cancelled:
            try:
                self.cancel_upload(kw.get("sha256") or sha256_of(data))
            except EdgeConsoleError:
                pass  # the agent forgets an idle upload by itself
            raise
