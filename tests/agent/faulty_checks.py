"""Health checks that misbehave the way a broken model does. They run in the
agent's child process (spawn), so they must be importable module-level functions."""

from __future__ import annotations

import os
import threading
from typing import Any


def crash(path: str) -> dict[str, Any]:
    os.abort()  # what a segfaulting runtime looks like from outside


def hang(path: str) -> dict[str, Any]:
    threading.Event().wait()  # never returns: a model stuck in an endless loop
    return {"ok": True, "reason": "unreachable"}


def exit_quietly(path: str) -> dict[str, Any]:
    os._exit(0)  # dies without answering
