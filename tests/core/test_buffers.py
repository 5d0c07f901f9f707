import threading

import pytest

from edgeconsole.core.buffers import LatestSlot, RingBuffer


def test_latest_slot_keeps_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is True
    assert slot.put(2) is False
    assert slot.put(3) is False
    assert slot.dropped == 2
    assert slot.take(0) == 3
    assert slot.take(0) is None


def test_latest_slot_close_unblocks_waiting_taker() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list[int | None] = []
    waiting = threading.Event()

    def taker() -> None:
        waiting.set()
        got.append(slot.take(timeout=30))

    t = threading.Thread(target=taker)
    t.start()
    assert waiting.wait(5)
    slot.close()
    t.join(5)
    assert not t.is_alive()
    assert got == [None]


def test_latest_slot_closed_still_delivers_last_item() -> None:
    slot: LatestSlot[str] = LatestSlot()
    slot.put("last")
    slot.close()
    assert slot.take(0) == "last"
    assert slot.take(0) is None


def test_ring_buffer_drops_oldest_and_counts() -> None:
    ring: RingBuffer[int] = RingBuffer(3)
    ring.extend(range(5))
    assert ring.dropped == 2
    assert ring.snapshot() == [2, 3, 4]
    assert ring.drain(2) == [2, 3]
    assert ring.drain() == [4]
    assert len(ring) == 0


def test_ring_buffer_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_ring_buffer_concurrent_writer_loses_nothing_within_capacity() -> None:
    ring: RingBuffer[int] = RingBuffer(100_000)
    threads = [
        threading.Thread(target=lambda k=k: ring.extend(range(k * 10_000, (k + 1) * 10_000)))
        for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ring.drain()) == list(range(40_000))
    assert ring.dropped == 0


def test_put_when_free_waits_for_the_taker_and_drops_nothing() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list[int] = []

    def taker() -> None:
        while True:
            item = slot.take(timeout=5)
            if item is None:
                return
            got.append(item)

    t = threading.Thread(target=taker)
    t.start()
    for i in range(2000):
        assert slot.put_when_free(i, timeout=5)
    slot.close()
    t.join(5)
    assert got == list(range(2000))
    assert slot.dropped == 0


def test_put_when_free_returns_false_when_closed() -> None:
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    slot.close()
    assert slot.put_when_free(2, timeout=1) is False
