"""Validation against the real gateway agent on 127.0.0.1 (tests/fixtures/gateway.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconsole.commission import ValidationJob, ValidationRequest, write_report
from edgeconsole.core.errors import ConfigError
from edgeconsole.devices.gateway.oip import OipClient
from tests.commission.helpers import DIGITS_MODEL, DIGITS_SET, subset
from tests.fixtures.gateway import RunningAgent, StartAgent


def _token_file(agent: RunningAgent, tmp_path: Path) -> Path:
    f = tmp_path / "token"
    f.write_text(agent.token)
    return f


def _loaded(agent: RunningAgent) -> RunningAgent:
    client = OipClient(agent.url, agent.token)
    try:
        client.load("digits")
    finally:
        client.close()
    return agent


def test_gateway_run_agrees_with_local_shadow(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    agent = _loaded(start_gateway_agent())
    data = subset(DIGITS_SET, tmp_path / "d", 4)
    req = ValidationRequest(
        f"{agent.gateway_url}?model=digits",
        DIGITS_MODEL,
        data,
        token_file=_token_file(agent, tmp_path),
        budget_ms=1000,
        line_rate=120,
    )
    res = ValidationJob(req).run()
    d = res.data
    assert not d["partial"] and d["samples"]["scored"] == 40
    assert d["target"]["kind"] == "gateway" and d["target"]["served_model"] == "digits"
    assert d["target"]["hw_id"] == "gw-x86"
    assert d["shadow_target"]["kind"] == "local"
    # Same model, same preprocessing on both sides: every answer agrees.
    assert d["shadow"]["agreement"] == 1.0 and d["shadow"]["disagreements"] == []
    assert d["latency"]["stages"]["infer"]["p50"] > 0  # the HTTP round trip is the infer stage
    html = write_report(res, tmp_path / "gw.html").html.read_text()
    assert "gateway://127.0.0.1" in html and "Shadow comparison" in html


def test_gateway_that_goes_away_mid_run_gives_a_partial_report(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    agent = _loaded(start_gateway_agent())
    data = subset(DIGITS_SET, tmp_path / "d", 3)

    def pull_the_plug(rec: object, done: int, total: int) -> None:
        if done == 7:
            agent.background.stop()  # the agent really stops listening

    req = ValidationRequest(
        f"{agent.gateway_url}?model=digits",
        DIGITS_MODEL,
        data,
        token_file=_token_file(agent, tmp_path),
    )
    res = ValidationJob(req, on_sample=pull_the_plug).run()
    d = res.data
    assert d["partial"] and d["verdict"] == "PARTIAL"
    assert d["samples"]["run"] == 7 and d["samples"]["total"] == 30
    assert "target failed at sample 8" in d["partial_reason"]
    complete = next(c for c in d["criteria"] if c["name"] == "run complete")
    assert not complete["passed"] and complete["margin"] == "23 not run"
    html = write_report(res, tmp_path / "partial.html").html.read_text()
    assert "PARTIAL RUN" in html and "7 of 30 samples" in html


def test_gateway_without_token_or_model_is_refused(
    start_gateway_agent: StartAgent, tmp_path: Path
) -> None:
    agent = start_gateway_agent()
    with pytest.raises(ConfigError, match="no token"):
        ValidationJob(ValidationRequest(agent.gateway_url, DIGITS_MODEL, DIGITS_SET)).prepare()
    with pytest.raises(ConfigError, match="runs no model and none was named"):
        ValidationJob(
            ValidationRequest(
                agent.gateway_url,
                DIGITS_MODEL,
                DIGITS_SET,
                token_file=_token_file(agent, tmp_path),
            )
        ).prepare()
