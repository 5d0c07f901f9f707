"""No "Unclosed client session" after a gateway error (issue 13, "also found").

A refused token or a mismatched model raised out of the validation runner's
constructor without closing the gateway client, and aiohttp complained at exit.
Each command runs as a real process against the real agent, so interpreter-exit
warnings are seen exactly as a person sees them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.commission.helpers import DIGITS_SET
from tests.fixtures.bundles import SAMPLE_BUNDLES, SAMPLE_TRUST
from tests.fixtures.gateway import REPO, StartAgent


def test_gateway_errors_leave_no_unclosed_client_session(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_gateway_agent()
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-0123456789abcdef\n")
    right = tmp_path / "token"
    right.write_text(agent.token + "\n")
    gw = agent.gateway_url
    digits = str(SAMPLE_BUNDLES / "digits-1.ecb")
    validate = [
        "validate",
        "--bundle",
        digits,
        "--trust",
        str(SAMPLE_TRUST),
        "--dataset",
        str(DIGITS_SET),
        "--report",
        str(tmp_path / "r.html"),
    ]
    commands = {
        "validate, wrong token": [*validate, gw, "--token-file", str(wrong)],
        "validate, no such model": [
            *validate,
            f"{gw}?model=nonexistent",
            "--token-file",
            str(right),
        ],
        "slots, wrong token": ["slots", gw, "--token-file", str(wrong)],
        "flash, wrong token": ["flash", gw, digits, "--token-file", str(wrong)],
        "rollback, nothing to roll back": ["rollback", gw, "--token-file", str(right)],
    }
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "edgeconsole", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, (name, err)  # each of them is an error case ...
        assert "edgeconsole: error:" in err, (name, err)  # ... said in one sentence ...
        assert "Unclosed" not in err and "Traceback" not in err, (name, err)  # ... and clean
