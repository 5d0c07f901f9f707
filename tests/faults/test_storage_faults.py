"""Storage faults through the harness: a slot table (the state every device and the
agent keep on disk) under a failing fsync, kill -9 at seeded moments, a disk that
fills (real tmpfs) and a file-size limit; the agent's upload onto a full disk."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from edgeconsole.core.slots import SlotStore, SlotStoreError, SlotTable
from tests.faults.storage import kill9_loop, run_python, small_tmpfs
from tests.fixtures.gateway import GatewayKit, StartAgent

_TABLES = """
import json, sys
from pathlib import Path
from edgeconsole.core.slots import SlotStore, SlotStoreError, SlotTable
store = SlotStore(Path(sys.argv[1]) if len(sys.argv) > 1 else Path({path!r}))
t = SlotTable.empty()
results = []
for i in range({n}):
    try:
        t = t.begin_staging(t.inactive, f"{{i:064x}}", 1000 + i)
        store.save(t)
        results.append(["ok", i])
        t = t.discard_staging(t.inactive)
        store.save(t)
    except Exception as exc:
        results.append([type(exc).__name__, str(exc)[:400]])
        break
print(json.dumps({{"results": results}}))
"""


def _table_ok(d: Path) -> str | None:
    try:
        SlotStore(d).load()
    except Exception as exc:  # any failure to load is the finding
        return f"{type(exc).__name__}: {exc}"
    return None


def test_failing_fsync_keeps_the_old_table(tmp_path: Path) -> None:
    # fsyncs per save: the temp file and the directory; the 5th call is the third save's.
    r = run_python(_TABLES.format(path=str(tmp_path), n=10), fail_fsync_from=5)
    results = r.out["results"]
    assert results[:2] == [["ok", 0]] or results[0] == ["ok", 0], r.stderr
    failed = results[-1]
    # A project error a person can read (not a bare OSError), naming the cause.
    assert failed[0] == "SlotStoreError" and "injected fsync fault" in failed[1], failed
    # The table on disk is a whole one (the one before the failing write), never torn.
    assert _table_ok(tmp_path) is None
    table = SlotStore(tmp_path).load()
    assert table == SlotTable.empty() or any(s.state != "empty" for s in table.slots)


def test_kill9_while_writing_slot_tables_never_leaves_a_torn_table(tmp_path: Path) -> None:
    snippet = _TABLES.format(path=str(tmp_path), n=100_000).replace(
        "t = SlotTable.empty()", "t = SlotTable.empty()\nprint('ready', flush=True)"
    )
    report = kill9_loop(
        [sys.executable, "-c", snippet],
        lambda i: _table_ok(tmp_path),
        trials=12,
        seed=9,
        max_delay_s=0.4,
        ready="ready",
    )
    assert len(report.trials) == 12
    assert not report.failures, report.failures


def test_disk_full_on_a_real_tmpfs_keeps_the_old_table(tmp_path: Path) -> None:
    with small_tmpfs("64k") as mnt:
        if mnt is None:
            pytest.skip("cannot mount a tmpfs here (needs root); the file-size limit test runs")
        store = SlotStore(mnt)
        t = SlotTable.empty().begin_staging(0, "a" * 64, 1)
        store.save(t)
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == 28
        finally:
            os.close(fd)
        with pytest.raises(SlotStoreError, match="No space left") as info:
            store.save(t.discard_staging(0))
        assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
        assert SlotStore(mnt).load() == t  # the old table, whole


def test_file_size_limit_keeps_the_old_table(tmp_path: Path) -> None:
    r = run_python(_TABLES.format(path=str(tmp_path), n=3), fsize_limit=200)
    assert r.out["results"][-1][0] == "SlotStoreError", r.out
    assert _table_ok(tmp_path) is None


def test_agent_upload_onto_a_full_disk_is_refused_and_the_agent_keeps_serving(
    start_gateway_agent: StartAgent, gateway_kit: GatewayKit
) -> None:
    from edgeconsole.core.errors import EdgeConsoleError
    from edgeconsole.devices.gateway.client import GatewayClient

    with small_tmpfs("3m") as mnt:
        if mnt is None:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        agent = start_gateway_agent(mnt / "agent", models=False, reserve_bytes=0)
        big = gateway_kit.bundle(version=1, padding=4_000_000)
        c = GatewayClient(agent.url, agent.token, timeout_s=5)
        try:
            with pytest.raises(EdgeConsoleError) as info:
                c.upload(big, stall_s=3, deadline_s=60)
            msg = str(info.value).lower()
            assert "space" in msg or "full" in msg, msg
            # Nothing half-written stays behind to fill the disk; the agent still serves.
            small = gateway_kit.bundle(version=1)
            result = c.upload(small, stall_s=3)
            assert result["state"] == "staged"
            staged = agent.data_dir / "slots" / "0" / "bundle.ecb"
            assert (
                hashlib.sha256(staged.read_bytes()).hexdigest()
                == hashlib.sha256(small.read_bytes()).hexdigest()
            )
        finally:
            c.close()
