"""The README's gateway lines work as written (issue 13, "also found"): the agent's
default hardware id is the one the shipped sample bundles are built for, and a
cut-short bundle is reported as truncated, not as built for other hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconsole.cli.main import main
from tests.agent.agent_proc import AgentProcess
from tests.fixtures.bundles import SAMPLE_TRUST


def test_the_default_agent_takes_the_sample_bundles(
    tmp_path: Path, sample_bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "gw" / "token"
    token.parent.mkdir()
    token.write_text("readme-flow-token-0123456789abcdef\n")
    agent = AgentProcess(tmp_path / "gw", SAMPLE_TRUST, token, None)  # no --hardware-id
    try:
        url = f"gateway://127.0.0.1:{agent.port}"
        common = ["--token-file", str(token), "--trust-dir", str(SAMPLE_TRUST)]
        bundle = sample_bundle_dir / "digits-1.ecb"
        # A cut-short copy first: "truncated", whatever else its head would say.
        cut = tmp_path / "digits-1-cut.ecb"
        cut.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
        assert main(["flash", url, str(cut), *common]) != 0
        err = capsys.readouterr().err
        assert "truncated" in err and "hardware" not in err, err
        assert main(["flash", url, str(bundle), *common]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert "health check passed" in out and "confirmed" in out, out
    finally:
        agent.terminate()
