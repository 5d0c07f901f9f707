"""Bounded hand-offs between threads. Drops are counted, never hidden."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds only the newest item: a put over an unread item replaces it and counts a drop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns False when it replaced an unread item."""
        with self._cond:
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item = item
            self._has_item = True
            self.put_count += 1
            self._cond.notify_all()
            return not replaced

    def wait_free(self, timeout: float | None = None) -> bool:
        """Wait until the slot is empty (or closed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_item or self._closed, timeout)

    def put_when_free(self, item: T, timeout: float | None = None) -> bool:
        """Wait until the previous item was taken, then store ``item`` (no drop).

        For offline work (a file read as fast as the model allows) every frame
        counts; returns False when closed or timed out without storing.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: not self._has_item or self._closed, timeout):
                return False
            if self._closed:
                return False
            self._item = item
            self._has_item = True
            self.put_count += 1
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> T | None:
        """Wait up to ``timeout`` for an item; None on timeout or when closed and empty."""
        with self._cond:
            if not self._has_item and not self._closed:
                self._cond.wait(timeout)
            if not self._has_item:
                return None
            item = self._item
            self._item = None
            self._has_item = False
            self._cond.notify_all()  # a put_when_free may be waiting for the slot
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class RingBuffer(Generic[T]):
    """A bounded FIFO shared by one writer thread and one reader thread.

    When full, the oldest item is discarded and counted in ``dropped``.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self.dropped = 0

    def append(self, item: T) -> None:
        with self._lock:
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def drain(self, limit: int | None = None) -> list[T]:
        """Remove and return up to ``limit`` oldest items (all when None)."""
        with self._lock:
            if limit is None or limit >= len(self._items):
                out = list(self._items)
                self._items.clear()
                return out
            return [self._items.popleft() for _ in range(limit)]

    def snapshot(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class BoundedQueue(Generic[T]):
    """First in, first out, at most ``capacity`` items; a full queue drops its OLDEST
    item on ``put`` (counted), or ``put_when_free`` waits for room (offline work).

    ``wake()`` makes a waiting ``take`` return early with ``woken=True`` so a
    consumer can do other work (an external trigger between two frames).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._woken = False
        self.dropped = 0
        self.put_count = 0
        self.high_water = 0

    def put(self, item: T) -> bool:
        """Append; False when the oldest item had to go to make room."""
        with self._cond:
            dropped = len(self._items) >= self.capacity
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._append(item)
            return not dropped

    def put_when_free(self, item: T, timeout: float | None = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(
                lambda: len(self._items) < self.capacity or self._closed, timeout
            ):
                return False
            if self._closed:
                return False
            self._append(item)
            return True

    def _append(self, item: T) -> None:
        self._items.append(item)
        self.put_count += 1
        self.high_water = max(self.high_water, len(self._items))
        self._cond.notify_all()

    def take(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """(item, woken): the oldest item, or (None, True) after ``wake()``, or
        (None, False) on timeout or when closed and empty."""
        with self._cond:
            if not self._items and not self._closed and not self._woken:
                self._cond.wait(timeout)
            if self._woken:
                self._woken = False
                if not self._items:
                    return None, True
            if not self._items:
                return None, False
            item = self._items.popleft()
            self._cond.notify_all()
            return item, False

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
