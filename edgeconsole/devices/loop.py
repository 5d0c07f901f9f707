"""One asyncio loop on a background thread for the console's device I/O (DESIGN section 3):
serial links and gateway clients alike; the sync faces of both wait on it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from edgeconsole.core.errors import Cancelled

T = TypeVar("T")
#: How often a cancellable wait looks at its cancel flag.
CANCEL_POLL_S = 0.05


class LoopThread:
    def __init__(self, name: str = "edgeconsole-io") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run_cancellable(
        self, coro: Coroutine[Any, Any, T], cancel: threading.Event, *, subject: str = ""
    ) -> T:
        """``run``, but ``cancel`` being set cancels the task on the loop at once (a
        long upload stops within ``CANCEL_POLL_S``) and raises Cancelled here."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run_cancellable called from its own loop")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while not fut.done():
            if cancel.is_set():
                fut.cancel()
                raise Cancelled("cancelled", subject=subject or None)
            concurrent.futures.wait([fut], timeout=CANCEL_POLL_S)
        return fut.result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def io_loop() -> LoopThread:
    """The process-wide I/O loop (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.loop.is_closed():
            _shared = LoopThread()
        return _shared
