"""``edgeconsole sim plc`` keeps time: its start-up heap is frozen out of the cyclic
collector's sight (core/sched.py settle_heap), so a full collection cannot stall the
PLC's scan at a fixed part number (bench_plc missed the same two parts of 10,000 twice)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("plc")


def test_sim_plc_freezes_its_start_up_heap_and_says_so(tmp_path: Path) -> None:
    env = dict(os.environ, EDGECONSOLE_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeconsole.launcher",
            "sim",
            "plc",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--parts",
            "1",
            "--ppm",
            "600",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    summary = json.loads("\n".join(lines[1:]))  # the address first, then the summary
    # pymodbus's server, asyncio and the map: tens of thousands of objects.
    assert summary["heap_frozen_objects"] > 10_000, summary
