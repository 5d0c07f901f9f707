"""Hand-off between two processes through shared memory: messages, frames, a board.

One writer process and one reader process share each object (the inference
worker writes, the window's process reads). Nothing here ever waits on the other
side without a timeout, and nothing can be left locked by a side that died:

- :class:`ShmRing`: a bounded queue of byte messages in fixed-size cells; a
  message takes as many consecutive cells as it needs. Two counting semaphores
  (free cells, filled cells) hand the cells over; their post/wait are the memory
  barriers, so no index is shared at all (each side keeps its own).
- :class:`FrameSlots`: a few image slots, written round-robin (newest wins); a
  reader asks for the image a message named and gets None when the writer has
  already reused its slot. A lock per slot keeps a copy from seeing half a frame.
  A writer told to keep every frame (a recording) waits for a slot the reader is
  done with instead: the reader hands one back (``done``) per frame it was sent.
- :class:`ShmBoard`: a handful of int64 fields (heartbeat, counters), each written
  by one side only.

Each object pickles by name while a process is being spawned (the semaphores only
then), so the child attaches to the very same memory.
"""

from __future__ import annotations

import struct
from multiprocessing import shared_memory
from multiprocessing.context import BaseContext
from typing import Any

import numpy as np

from edgeconsole.core.errors import EdgeConsoleError

_LEN = struct.Struct("<Q")


class HandoffError(EdgeConsoleError):
    """Something does not fit the shared-memory hand-off (a message, a frame)."""


def _create(size: int) -> shared_memory.SharedMemory:
    return shared_memory.SharedMemory(create=True, size=max(1, size))


def _buf(shm: shared_memory.SharedMemory) -> memoryview:
    buf = shm.buf
    assert buf is not None  # open until close()
    return buf


class ShmRing:
    """A bounded queue of byte messages from one process to another."""

    def __init__(self, ctx: BaseContext, *, cells: int = 256, cell_bytes: int = 16384) -> None:
        if cells < 2 or cell_bytes < 64:
            raise ValueError("a ring needs at least 2 cells of 64 bytes")
        self.cells = cells
        self.cell_bytes = cell_bytes
        self._shm = _create(cells * cell_bytes)
        self._owner = True
        self._free = ctx.Semaphore(cells)
        self._filled = ctx.Semaphore(0)
        self._wpos = 0  # the writer's own cell index
        self._rpos = 0  # the reader's own cell index
        #: How long the reader waits for the rest of a message it saw begin.
        self.stall_s = 5.0

    @property
    def capacity(self) -> int:
        """The largest message that fits (bytes)."""
        return self.cells * self.cell_bytes - _LEN.size

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self._shm.name,
            "cells": self.cells,
            "cell_bytes": self.cell_bytes,
            "free": self._free,
            "filled": self._filled,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.cells = state["cells"]
        self.cell_bytes = state["cell_bytes"]
        self._shm = shared_memory.SharedMemory(name=state["name"])
        self._owner = False
        self._free = state["free"]
        self._filled = state["filled"]
        self._wpos = 0
        self._rpos = 0
        self.stall_s = 5.0

    def _span(self, nbytes: int) -> int:
        return -(-(nbytes + _LEN.size) // self.cell_bytes)

    def _copy_in(self, offset: int, data: bytes | memoryview) -> None:
        size = self.cells * self.cell_bytes
        buf = _buf(self._shm)
        first = min(len(data), size - offset)
        buf[offset : offset + first] = data[:first]
        if first < len(data):
            buf[0 : len(data) - first] = data[first:]

    def _copy_out(self, offset: int, nbytes: int) -> bytes:
        size = self.cells * self.cell_bytes
        buf = _buf(self._shm)
        first = min(nbytes, size - offset)
        out = bytes(buf[offset : offset + first])
        if first < nbytes:
            out += bytes(buf[0 : nbytes - first])
        return out

    def put(self, data: bytes, *, timeout: float = 0.25, give_up: Any = None) -> bool:
        """Queue ``data``; waits for room (``timeout`` per try) until ``give_up()`` is
        true. False: given up, nothing queued. Results are never dropped for room."""
        if len(data) > self.capacity:
            raise HandoffError(
                f"a {len(data)}-byte message does not fit the {self.capacity}-byte hand-off ring",
                hint="the result is unusually large; report the model that produced it",
            )
        span = self._span(len(data))
        taken = 0
        while taken < span:
            if self._free.acquire(timeout=timeout):
                taken += 1
            elif give_up is not None and give_up():
                for _ in range(taken):
                    self._free.release()
                return False
        offset = self._wpos * self.cell_bytes
        self._copy_in(offset, _LEN.pack(len(data)))
        self._copy_in((offset + _LEN.size) % (self.cells * self.cell_bytes), data)
        self._wpos = (self._wpos + span) % self.cells
        for _ in range(span):
            self._filled.release()
        return True

    def get(self, timeout: float | None = None) -> bytes | None:
        """The next message, or None when none came within ``timeout``."""
        if not self._filled.acquire(timeout=timeout):
            return None
        offset = self._rpos * self.cell_bytes
        (nbytes,) = _LEN.unpack(self._copy_out(offset, _LEN.size))
        span = self._span(nbytes)
        if nbytes > self.capacity:  # cannot happen unless the memory was overwritten
            raise HandoffError(f"corrupt hand-off ring: message of {nbytes} bytes announced")
        for _ in range(span - 1):
            # Posted right after the first cell; a writer killed between two posts
            # must not hang the reader: its worker is being replaced anyway.
            if not self._filled.acquire(timeout=self.stall_s):
                raise HandoffError("the hand-off ring's writer died in the middle of a message")
        data = self._copy_out((offset + _LEN.size) % (self.cells * self.cell_bytes), nbytes)
        self._rpos = (self._rpos + span) % self.cells
        for _ in range(span):
            self._free.release()
        return data

    def close(self) -> None:
        _close(self._shm, self._owner)


#: Slot header: sequence number, ndim, dims (3), dtype code, byte count.
_SLOT = struct.Struct("<qq3qqq")
_DTYPES = ("uint8", "uint16", "float32", "int8", "int16", "int32", "float64")


class FrameSlots:
    """Images from one process to another, newest wins."""

    def __init__(self, ctx: BaseContext, *, slots: int = 4, slot_bytes: int = 3840 * 2160 * 3):
        self.slots = slots
        self.slot_bytes = slot_bytes
        self._stride = _SLOT.size + slot_bytes
        # Pages are only backed once written: a big slot for a small frame costs nothing.
        self._shm = _create(slots * self._stride)
        self._owner = True
        self._locks = [ctx.Lock() for _ in range(slots)]
        self._free = ctx.BoundedSemaphore(slots)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self._shm.name,
            "slots": self.slots,
            "slot_bytes": self.slot_bytes,
            "locks": self._locks,
            "free": self._free,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.slots = state["slots"]
        self.slot_bytes = state["slot_bytes"]
        self._stride = _SLOT.size + self.slot_bytes
        self._shm = shared_memory.SharedMemory(name=state["name"])
        self._owner = False
        self._locks = state["locks"]
        self._free = state["free"]

    def write(
        self, seq: int, image: np.ndarray, *, keep: bool = False, give_up: Any = None
    ) -> None:
        """Put ``image`` in slot ``seq % slots`` (writer side; ``seq`` grows by one per
        frame). ``keep``: wait until the reader is done with the slot (``give_up()``
        true: write anyway); otherwise the newest frame wins at once."""
        if keep:
            while not self._free.acquire(timeout=0.25):
                if give_up is not None and give_up():
                    break
        else:
            self._free.acquire(block=False)
        dtype = str(image.dtype)
        if dtype not in _DTYPES or not 1 <= image.ndim <= 3:
            raise HandoffError(f"cannot hand off a {image.ndim}-d {dtype} image")
        if image.nbytes > self.slot_bytes:
            raise HandoffError(
                f"a {'x'.join(map(str, image.shape))} frame ({image.nbytes} bytes) is larger "
                f"than a hand-off slot ({self.slot_bytes} bytes)",
                hint="lower the camera's resolution, or run the pipeline in-process",
            )
        dims = list(image.shape) + [0] * (3 - image.ndim)
        base = (seq % self.slots) * self._stride
        lock = self._locks[seq % self.slots]
        with lock:
            header = _SLOT.pack(seq, image.ndim, *dims, _DTYPES.index(dtype), image.nbytes)
            _buf(self._shm)[base : base + _SLOT.size] = header
            view = np.ndarray(
                image.shape, image.dtype, buffer=_buf(self._shm), offset=base + _SLOT.size
            )
            view[...] = image
            del view

    def read(self, seq: int, *, timeout: float = 0.5) -> np.ndarray | None:
        """A copy of image ``seq``; None when its slot was reused (a newer frame won) or
        the writer holds it longer than ``timeout`` (it died while writing)."""
        index = seq % self.slots
        base = index * self._stride
        lock = self._locks[index]
        if not lock.acquire(timeout=timeout):
            return None
        try:
            got, ndim, d0, d1, d2, code, nbytes = _SLOT.unpack(
                bytes(_buf(self._shm)[base : base + _SLOT.size])
            )
            if got != seq or not 0 <= code < len(_DTYPES) or nbytes > self.slot_bytes:
                return None
            shape = (d0, d1, d2)[:ndim]
            view = np.ndarray(
                shape, _DTYPES[code], buffer=_buf(self._shm), offset=base + _SLOT.size
            )
            image = view.copy()
            del view
            return image
        finally:
            lock.release()

    def done(self) -> None:
        """Reader side: one frame it was sent is copied or passed over."""
        try:
            self._free.release()
        except ValueError:
            pass  # the writer did not wait for that slot (newest wins)

    def close(self) -> None:
        _close(self._shm, self._owner)


_BOARD = ("beat_ns", "busy_since_ns", "dropped", "captured", "source_state", "pid", "keep")


class ShmBoard:
    """A few int64 fields; each written by one side only (torn reads cannot happen on
    an aligned 8-byte word)."""

    FIELDS = _BOARD

    def __init__(self) -> None:
        self._shm = _create(8 * len(_BOARD))
        self._owner = True
        self._arr = np.ndarray((len(_BOARD),), np.int64, buffer=_buf(self._shm))
        self._arr[:] = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self._shm.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._shm = shared_memory.SharedMemory(name=state["name"])
        self._owner = False
        self._arr = np.ndarray((len(_BOARD),), np.int64, buffer=_buf(self._shm))

    def __getitem__(self, name: str) -> int:
        return int(self._arr[_BOARD.index(name)])

    def __setitem__(self, name: str, value: int) -> None:
        self._arr[_BOARD.index(name)] = value

    def close(self) -> None:
        del self._arr
        _close(self._shm, self._owner)


def _close(shm: shared_memory.SharedMemory, owner: bool) -> None:
    try:
        shm.close()
    except BufferError:
        return  # a view is still alive somewhere; the memory goes with the process
    if owner:
        try:
            shm.unlink()
        except FileNotFoundError:
            pass
