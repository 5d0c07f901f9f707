"""The shared-memory hand-off between two real processes (spawned, as the worker is)."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest

from edgeconsole.core.shm import FrameSlots, HandoffError, ShmBoard, ShmRing

CTX = multiprocessing.get_context("spawn")


def _messages(n: int) -> list[bytes]:
    # Sizes from empty to several cells, so messages wrap around the ring's end.
    sizes = [0, 1, 7, 100, 5000, 17000, 40000, 3, 16376, 16377]
    return [bytes([i % 251]) * sizes[i % len(sizes)] + pickle.dumps(i) for i in range(n)]


def _write_messages(ring: ShmRing, n: int) -> None:
    for data in _messages(n):
        assert ring.put(data)


def _write_frames(slots: FrameSlots, board: ShmBoard, n: int) -> None:
    for seq in range(1, n + 1):
        slots.write(seq, np.full((48, 64, 3), seq % 256, np.uint8))
        board["captured"] = seq


def test_ring_carries_every_message_in_order_across_processes() -> None:
    ring = ShmRing(CTX, cells=16, cell_bytes=4096)  # 64 KB: the writer must wait for room
    child = CTX.Process(target=_write_messages, args=(ring, 200))
    child.start()
    try:
        got = []
        while len(got) < 200:
            data = ring.get(timeout=30)
            assert data is not None, f"writer stalled after {len(got)} messages"
            got.append(data)
        assert got == _messages(200)
        assert ring.get(timeout=0) is None
    finally:
        child.join(10)
        ring.close()
    assert child.exitcode == 0


def test_ring_refuses_a_message_larger_than_itself_and_gives_up_when_told() -> None:
    ring = ShmRing(CTX, cells=4, cell_bytes=64)
    try:
        with pytest.raises(HandoffError, match="does not fit"):
            ring.put(b"x" * 300)
        assert ring.put(b"y" * 200)  # 4 cells: full
        assert not ring.put(b"z", timeout=0.01, give_up=lambda: True)
        assert ring.get(timeout=0) == b"y" * 200
        assert ring.put(b"z", timeout=0.01, give_up=lambda: True)  # room again
        assert ring.get(timeout=0) == b"z"
    finally:
        ring.close()


def test_frame_slots_newest_wins_and_a_reused_slot_reads_none() -> None:
    slots = FrameSlots(CTX, slots=4, slot_bytes=48 * 64 * 3)
    board = ShmBoard()
    child = CTX.Process(target=_write_frames, args=(slots, board, 10))
    child.start()
    child.join(30)
    try:
        assert child.exitcode == 0
        assert board["captured"] == 10
        for seq in (7, 8, 9, 10):  # the last four are still in their slots
            image = slots.read(seq)
            assert image is not None and image.shape == (48, 64, 3)
            assert int(image[0, 0, 0]) == seq
        assert slots.read(6) is None  # slot 2 now holds frame 10
        with pytest.raises(HandoffError, match="larger than a hand-off slot"):
            slots.write(11, np.zeros((100, 100, 3), np.uint8))
        with pytest.raises(HandoffError, match="cannot hand off"):
            slots.write(11, np.zeros((2, 2, 2, 2), np.uint8))
    finally:
        slots.close()
        board.close()


def test_a_writer_that_dies_between_a_messages_cells_does_not_hang_the_reader() -> None:
    ring = ShmRing(CTX, cells=4, cell_bytes=64)
    ring.stall_s = 0.2
    try:
        assert ring.put(b"a" * 150)  # three cells, three posts
        # As if the writer was killed after its first post: take the other two back.
        assert ring._filled.acquire(timeout=1)
        assert ring._filled.acquire(timeout=1)
        with pytest.raises(HandoffError, match="died in the middle of a message"):
            ring.get(timeout=1)
    finally:
        ring.close()
