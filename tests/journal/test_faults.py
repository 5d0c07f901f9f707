"""Faults as tests: kill -9 while recording, disk full (tmpfs or a file-size limit)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from mcap.stream_reader import StreamReader

from edgeconsole.journal.replay import RecordingReader

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

_RECORD_FOREVER = r"""
import sys, time
from pathlib import Path
import numpy as np
from edgeconsole.core.clock import now_ns
from edgeconsole.core.frames import Frame
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.recorder import McapRecorderSink
from tests.fixtures.journal import latency_for, result_for
j = Journal.open(Path(sys.argv[1]))
rec = McapRecorderSink(Path(sys.argv[2]), chunk_bytes=64 * 1024, chunk_seconds=0.2)
rec.start()
rng = np.random.default_rng(0)
img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
i = 0
while True:
    rec.write_frame(Frame(i, img, now_ns(), "synthetic"), result_for(i), latency_for(i))
    j.telemetry.add_telemetry_rows((time.time_ns(), "sim://", "ax", float(k)) for k in range(200))
    j.telemetry.add_latency("local://", latency_for(i))
    if i % 10 == 0:
        j.audit.log("pipeline", "info", "local://", f"frame {i}")
    if i == 20:
        print("ready", flush=True)
    i += 1
    time.sleep(0.005)
"""


def _wait_for(cond, timeout: float) -> bool:
    ev = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if cond():
            return True
        ev.wait(0.02)
    return cond()


@pytest.mark.slow
def test_kill9_while_recording_in_a_loop(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    for round_ in range(4):
        out = tmp_path / f"rec{round_}.mcap"
        proc = subprocess.Popen(
            [sys.executable, "-c", _RECORD_FOREVER, str(jdir), str(out)],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            # Let it write for a varying while (chunks closing, WAL checkpoints), then kill -9.
            size0 = out.stat().st_size
            grow = size0 + 20_000 * (round_ + 1)
            assert _wait_for(lambda p=out, g=grow: p.stat().st_size > g, 20)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        for db in [jdir / "audit.db", *sorted(jdir.glob("telemetry-*.db"))]:
            conn = sqlite3.connect(db)
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], db
            conn.close()
        # The mcap peer reads record by record up to the cut; our reader recovers that prefix.
        peer_messages = 0
        with open(out, "rb") as fh:
            try:
                for rec in StreamReader(fh).records:
                    peer_messages += type(rec).__name__ == "Message"
            except Exception:
                pass  # the torn tail
        with RecordingReader(out) as rd:
            assert rd.info.frames > 0
            assert sum(rd.info.counts.values()) == peer_messages
            indices = [i.frame.index for i in rd.items(topics=("/camera",))]
            assert indices == list(range(len(indices)))
    # The journal reopens after all that and has every round's audit rows.
    from edgeconsole.journal.journal import Journal

    j = Journal.open(jdir)
    try:
        assert j.notices.drain() == []  # nothing was damaged, nothing quarantined
        assert len(j.audit.entries()) >= 4
    finally:
        j.close()


_FSIZE = r"""
import json, resource, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of dying
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.telemetry_sink import TelemetryLimits
j = Journal.open(Path(sys.argv[1]), limits=TelemetryLimits(flush_s=0.02, probe_s=0.05,
                                                        headroom_bytes=0))
j.audit.log("test", "info", "", "before")
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
def wait(cond, t=20):
    end = time.monotonic() + t
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()
k = 0
def push(n):
    global k
    j.telemetry.add_telemetry_rows((time.time_ns(), "sim://", "ax", float(k + i)) for i in range(n))
    k += n
    j.telemetry.flush(20)
# Per-file limit: a WAL reset can make room again, so "stopped" is seen as rows lost.
stopped = wait(lambda: (push(2000), j.telemetry.health().lost_disk > 0)[1])
audit_ok = j.audit.log("flash", "info", "serial://x", "slot B confirmed during disk full")
notices = [n.text for n in j.notices.drain()]
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
w0 = j.telemetry.health().written
resumed = wait(lambda: (push(10), j.telemetry.health().state == "running"
                        and j.telemetry.health().written > w0)[1])
notices += [n.text for n in j.notices.drain()]
h = j.telemetry.health()
print(json.dumps({"stopped": stopped, "audit_ok": audit_ok, "resumed": resumed,
                  "notices": notices, "lost": h.lost_disk, "written": h.written}))
j.close()
"""


def test_file_size_limit_stops_telemetry_keeps_audit_and_resumes(tmp_path: Path) -> None:
    import json

    jdir = tmp_path / "journal"
    r = subprocess.run(
        [sys.executable, "-c", _FSIZE, str(jdir), str(400_000)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["stopped"] and out["audit_ok"] and out["resumed"], out
    assert any("Telemetry recording stopped" in n for n in out["notices"])
    assert any("resumed" in n for n in out["notices"])
    assert out["lost"] > 0
    conn = sqlite3.connect(jdir / "audit.db")
    msgs = [m for (m,) in conn.execute("SELECT message FROM events")]
    conn.close()
    assert "slot B confirmed during disk full" in msgs
    for db in sorted(jdir.glob("*.db")):
        c = sqlite3.connect(db)
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        c.close()


def _mount_tmpfs(size: str) -> Path | None:
    if os.geteuid() != 0:
        return None
    d = Path(tempfile.mkdtemp(prefix="ec-tmpfs-"))
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True
    )
    if r.returncode != 0:
        d.rmdir()
        return None
    return d


def test_real_disk_full_on_tmpfs(tmp_path: Path) -> None:
    from edgeconsole.journal.journal import Journal
    from edgeconsole.journal.telemetry_sink import TelemetryLimits

    mnt = _mount_tmpfs("6m")
    if mnt is None:
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers it")
    try:
        j = Journal.open(
            mnt / "journal",
            limits=TelemetryLimits(headroom_bytes=1024 * 1024, flush_s=0.02, probe_s=0.05),
        )
        try:
            ballast = mnt / "ballast"
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            ballast.write_bytes(b"\0" * (free - 700 * 1024))  # under the 1 MB headroom
            j.telemetry.add_telemetry("sim://", "ax", 1.0)
            assert j.telemetry.flush()
            assert j.telemetry.health().state == "stopped"
            assert j.audit.log("flash", "info", "x", "written inside the headroom")
            # Now really full: audit entries wait in memory, the person is told.
            with open(ballast, "ab") as fh:
                try:
                    fh.write(b"\0" * (4 * 1024 * 1024))
                except OSError:
                    pass
            held = [j.audit.log("flash", "info", "x", f"held {i}" + "y" * 3000) for i in range(40)]
            assert held[-1] is False and j.audit.pending > 0
            texts = [n.text for n in j.notices.drain()]
            assert any("Telemetry recording stopped" in t for t in texts)
            assert any("Audit journal cannot write" in t for t in texts)
            ballast.unlink()  # space returns
            assert j.health().audit_pending == 0
            j.telemetry.add_telemetry("sim://", "ax", 2.0)
            assert j.telemetry.flush()
            assert _wait_for(lambda: j.telemetry.health().state == "running", 10)
            msgs = [e.message for e in j.audit.entries()]
            assert "written inside the headroom" in msgs and "held 39" + "y" * 3000 in msgs
        finally:
            j.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()
