"""Write files so a crash, a kill -9 or a pulled USB stick never leaves a half file
that looks whole: write a temporary file of its own in the same folder, fsync it,
rename it over the final name, fsync the folder (the rename itself must reach the disk).

The one implementation for the console, the agent and the simulator.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Called with each step's name just before it runs: the fault tests cut the power
#: right there (the virtual device raises its power-loss signal from it).
WriteHook = Callable[[str], None]

#: The steps of one atomic write, in order. A hook that raises at a step leaves
#: everything after it undone.
WRITE_STEPS: tuple[str, ...] = ("write-temp", "rename", "sync-dir")


def temp_name(path: Path) -> Path:
    # Unique per write: two writers (threads or processes, or a writer and a leftover of
    # a killed one) never share a temp file, so neither can rename the other's
    # half-written bytes into place.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


def stale_temps(path: Path) -> list[Path]:
    """Temp files of ``path`` left behind by a writer that was killed mid-write."""
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _still_mine(fd: int, mine: os.stat_result, size: int, tmp: Path) -> None:
    """Refuse to rename a temp file the data never reached. A descriptor closed twice
    elsewhere in the process (a library closing a number it no longer owns, on any
    thread) is reused by the next open: our writes then land in that other file and an
    empty temp file would replace ``path``."""
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino) or now.st_size != size:
        raise OSError(
            errno.EBADF,
            f"the file descriptor of {tmp.name} was taken over during the write "
            f"({now.st_size} of {size} bytes reached it); {tmp.parent} is unchanged",
        )


def atomic_write(
    path: Path, data: bytes, hook: WriteHook | None = None, *, mode: int = 0o644
) -> None:
    """Replace ``path`` with ``data``. On an error ``path`` is untouched and the temp
    file removed."""
    tmp = temp_name(path)
    if hook:
        hook("write-temp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            mine = os.fstat(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            _still_mine(fd, mine, len(data), tmp)
        finally:
            os.close(fd)
        if hook:
            hook("rename")
        os.replace(tmp, path)
    except Exception:
        # A write that failed (disk full, EIO) leaves nothing behind. A simulated
        # power cut (a BaseException from the hook) leaves the temp file as a real
        # one would: the next load removes it.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if hook:
        hook("sync-dir")
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it becomes ``path`` (for data written in
    pieces, e.g. a streamed CSV); on an error ``path`` is untouched."""
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
        ok = True
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
