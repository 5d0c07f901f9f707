"""One agent per data directory.

The slot table, the upload session and the journal each have exactly one writer
inside the agent; a second agent started on the same directory would be a second
writer behind their locks. An advisory ``flock`` on ``<data>/agent.lock`` makes the
second one refuse to start. The kernel drops the lock when the holder dies, so a
kill -9 or a power cut never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from edgeconsole.core.errors import ConfigError

LOCK_FILE = "agent.lock"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip()
            os.close(self._fd)
            self._fd = None
            raise ConfigError(
                "another agent is using this data directory"
                + (f" (pid {holder})" if holder.isdigit() else ""),
                subject=str(data_dir),
                hint="stop the other agent, or give this one its own --data-dir",
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
