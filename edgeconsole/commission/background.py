"""What a validation run (a sample set, or a moving line) is to whoever starts it: a
state, an error in words, a cancel flag, and its own worker thread for the window's
older callers (the session's job runner calls ``run`` itself)."""

from __future__ import annotations

import threading
from typing import Any

from edgeconsole.commission.model_ref import ModelRef
from edgeconsole.core.errors import EdgeConsoleError


class ValidationRun:
    """Base of ``ValidationJob`` and ``LineValidationJob``: ``run()`` is theirs."""

    #: The worker thread's name (``start``).
    thread_name = "validation"

    def __init__(self, request: Any) -> None:
        request.check()
        self.req = request
        self.model: ModelRef | None = None
        self.error = ""
        self.state = "idle"  # idle, preparing, running, done, failed
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._prepared = False

    @property
    def budget_ms(self) -> float | None:
        if self.req.budget_ms is not None:
            return float(self.req.budget_ms)
        return self.model.spec.latency_budget_ms if self.model is not None else None

    def run(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        """Prepare and run on a worker thread (errors end up in ``state``/``error``)."""

        def work() -> None:
            try:
                self.run()
            except EdgeConsoleError as exc:
                self.error = str(exc)
                self.state = "failed"
            except Exception as exc:  # a bug: show it rather than hang the window
                self.error = f"unexpected error: {exc!r}"
                self.state = "failed"

        self._thread = threading.Thread(target=work, name=self.thread_name, daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        self._cancel.set()
