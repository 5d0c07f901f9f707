"""The slot state machine (DESIGN section 5) and its atomic persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeconsole.core.atomic import WRITE_STEPS, atomic_write
from edgeconsole.core.errors import EdgeConsoleError
from edgeconsole.core.slots import (
    SlotState,
    SlotStore,
    SlotStoreError,
    SlotTable,
    SlotTransitionError,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def confirmed_table() -> SlotTable:
    t = SlotTable.empty()
    t = t.begin_staging(0, SHA_A, 10).finish_staging(0, SHA_A)
    t = t.activate(0, bundle_id="factory", version=1).confirm()
    return t


def test_full_cycle_and_running_slot() -> None:
    t = confirmed_table()
    assert t.confirmed == 0 and t.running == 0 and t.inactive == 1
    t = t.begin_staging(1, SHA_B, 20)
    assert t.slot(1).state is SlotState.STAGING and t.running == 0
    t = t.finish_staging(1, SHA_B).activate(1, attempts=2, bundle_id="b", version=2)
    assert t.running == 1 and t.confirmed == 0 and t.slot(1).attempts == 2
    t = t.confirm()
    assert t.confirmed == 1 and t.running == 1 and t.inactive == 0
    assert t.slot(0).state is SlotState.CONFIRMED  # previous stays a valid fallback


def test_active_slot_is_never_staged() -> None:
    t = confirmed_table()
    with pytest.raises(SlotTransitionError, match="never written"):
        t.begin_staging(0, SHA_B, 5)
    t = t.begin_staging(1, SHA_B, 5).finish_staging(1, SHA_B).activate(1)
    with pytest.raises(SlotTransitionError, match="no inactive slot"):
        _ = t.inactive


def test_hash_mismatch_refuses_staged() -> None:
    t = confirmed_table().begin_staging(1, SHA_B, 5)
    with pytest.raises(SlotTransitionError, match="hash"):
        t.finish_staging(1, SHA_A)


def test_trial_spends_attempts_then_goes_bad() -> None:
    t = confirmed_table().begin_staging(1, SHA_B, 5).finish_staging(1, SHA_B)
    t = t.activate(1, attempts=2)
    t = t.boot()
    assert t.slot(1).state is SlotState.TRIAL and t.slot(1).attempts == 1
    t = t.boot()
    assert t.slot(1).state is SlotState.BAD and t.running == 0


def test_rollback_trial_and_previous() -> None:
    t = confirmed_table().begin_staging(1, SHA_B, 5).finish_staging(1, SHA_B).activate(1)
    r = t.rollback()
    assert r.slot(1).state is SlotState.BAD and r.running == 0
    c = t.confirm().rollback()
    assert c.confirmed == 0 and c.running == 0 and c.slot(1).state is SlotState.STAGED
    with pytest.raises(SlotTransitionError, match="nothing to roll back"):
        confirmed_table().rollback()


def test_illegal_transitions_are_errors_with_hints() -> None:
    t = SlotTable.empty()
    for bad in (
        lambda: t.activate(0),
        lambda: t.confirm(),
        lambda: t.finish_staging(0, SHA_A),
        lambda: t.slot(5),
        lambda: t.begin_staging(0, "short", 3),
    ):
        with pytest.raises(SlotTransitionError) as info:
            bad()
        assert isinstance(info.value, EdgeConsoleError) and str(info.value)


def test_store_round_trip(tmp_path: Path) -> None:
    store = SlotStore(tmp_path)
    assert store.load() == SlotTable.empty()
    t = store.save(confirmed_table())
    assert SlotStore(tmp_path).load() == t
    assert store.writes == 1
    store.save(t)  # unchanged -> no write
    assert store.writes == 1
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b"[]",
        json.dumps({"schema": "other"}).encode(),
        json.dumps({"schema": "edgeconsole.slots/1", "slots": []}).encode(),
        json.dumps({"schema": "edgeconsole.slots/1", "slots": [{"index": 0}]}).encode(),
        b" " * (70 * 1024),
    ],
)
def test_store_rejects_hostile_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / SlotStore.FILE).write_bytes(content)
    with pytest.raises(SlotStoreError):
        SlotStore(tmp_path).load()


def test_store_rejects_inconsistent_table(tmp_path: Path) -> None:
    data = confirmed_table().to_json()
    data["slots"][0]["state"] = "staged"  # confirmed pointer at a non-confirmed slot
    (tmp_path / SlotStore.FILE).write_text(json.dumps(data))
    with pytest.raises(SlotStoreError, match="confirmed"):
        SlotStore(tmp_path).load()
    data = confirmed_table().to_json()
    data["slots"][1]["state"] = "warp"
    (tmp_path / SlotStore.FILE).write_text(json.dumps(data))
    with pytest.raises(SlotStoreError, match="warp"):
        SlotStore(tmp_path).load()


class Cut(BaseException):
    pass


def flow(store: SlotStore) -> None:
    """A whole update: factory confirm, stage, trial, reboot, confirm, rollback."""
    if store.table.confirmed is None:
        store.apply(lambda t: t.begin_staging(0, SHA_A, 10))
        store.apply(lambda t: t.finish_staging(0, SHA_A))
        store.apply(lambda t: t.activate(0))
        store.apply(lambda t: t.confirm())
    target = store.table.inactive
    store.apply(lambda t: t.begin_staging(target, SHA_B, 5))
    store.apply(lambda t: t.finish_staging(target, SHA_B))
    store.apply(lambda t: t.activate(target, attempts=2))
    store.apply(lambda t: t.boot())
    store.apply(lambda t: t.confirm())
    store.apply(lambda t: t.rollback())


def test_power_loss_at_every_step_of_every_write(tmp_path: Path) -> None:
    total = 10
    cases = 0
    for n in range(1, total + 1):
        for step in WRITE_STEPS:
            d = tmp_path / f"{n}-{step}"
            d.mkdir()
            seen = {"writes": 0}

            def hook(name: str, n: int = n, step: str = step, seen: dict = seen) -> None:
                if name == WRITE_STEPS[0]:
                    seen["writes"] += 1
                if seen["writes"] == n and name == step:
                    raise Cut()

            store = SlotStore(d, hook=hook)
            with pytest.raises(Cut):
                flow(store)
            after = SlotStore(d).load()  # "power back": read only what is on disk
            if n > 4 or (n == 4 and step == "sync-dir"):
                # Once a confirmed bundle existed, one always exists.
                assert after.confirmed is not None
                assert after.slot(after.confirmed).state is SlotState.CONFIRMED
            # And the update can simply be repeated to the end.
            again = SlotStore(d)
            again.apply(lambda t: t.boot())
            if again.table.trial is not None:
                again.apply(lambda t: t.rollback())
            flow(again)
            assert again.table.running is not None
            cases += 1
    assert cases == total * len(WRITE_STEPS)


def test_store_concurrent_changes_are_never_lost_or_torn(tmp_path: Path) -> None:
    """Eight threads changing the table at once: every change lands (none overwrites
    another), every write is whole, no temp file is left (issue 13: activate and
    upload-begin raced through one temp name and lost each other's changes)."""
    import threading

    store = SlotStore(tmp_path)
    store.save(SlotTable.empty())
    rounds, threads = 40, 6
    errors: list[BaseException] = []
    go = threading.Barrier(threads)

    def bump() -> None:
        go.wait()
        for _ in range(rounds):
            try:
                store.apply(lambda t: t.with_slot(t.slot(0), version=t.slot(0).version + 1))
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors, errors[:3]
    assert store.table.slot(0).version == rounds * threads
    assert SlotStore(tmp_path).load().slot(0).version == rounds * threads
    assert not list(tmp_path.glob(".*.tmp"))


def test_store_removes_temp_files_of_a_killed_writer(tmp_path: Path) -> None:
    store = SlotStore(tmp_path)
    store.save(confirmed_table())
    leftover = tmp_path / ".slots.json.4242.deadbeef0000.tmp"
    leftover.write_bytes(b'{"torn":')
    assert SlotStore(tmp_path).load() == confirmed_table()
    assert not leftover.exists()


def test_a_write_whose_descriptor_was_taken_over_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another part of the process closes our descriptor number (a double close) and the
    next open reuses it: the data goes to that other file. The old content must stay,
    never be replaced by the empty temp file."""
    import os

    target = tmp_path / "boot.json"
    target.write_bytes(b'{"old": true}')
    stranger = tmp_path / "stranger.log"
    real_write = os.write
    taken: list[int] = []

    def write_after_takeover(fd: int, data: object) -> int:
        if not taken:
            other = os.open(stranger, os.O_WRONLY | os.O_CREAT, 0o644)
            os.dup2(other, fd)  # what close(fd) elsewhere + open() would leave
            os.close(other)
            taken.append(fd)
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "write", write_after_takeover)
    with pytest.raises(OSError, match="taken over"):
        atomic_write(target, b'{"new": true}')
    monkeypatch.undo()
    assert taken
    assert target.read_bytes() == b'{"old": true}'
    assert stranger.read_bytes() == b'{"new": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boot.json", "stranger.log"]
