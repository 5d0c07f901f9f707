"""The headless side of the panel (the bundle workshop, via session.workshop), the runner."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from edgeconsole.core.errors import ConfigError
from edgeconsole.session import workshop as bj
from edgeconsole.ui.jobs import JobRunner, plain_error
from tests.ui.bundles.conftest import DEMO_PUB, REPO


def test_unreadable_key_file_in_store_is_listed_not_hidden(tmp_path: Path) -> None:
    store = bj.ensure_trust_dir(tmp_path / "trust")
    bj.import_trust_key(store, DEMO_PUB, "demo")
    (store / "broken.pub").write_text("garbage")
    rows = {r.label: r for r in bj.trust_keys(store)}
    assert rows["demo"].demo and rows["demo"].fingerprint
    assert rows["broken"].problem == "not a PEM public key"


def test_scan_with_broken_store_says_so(tmp_path: Path, library: Path) -> None:
    store = bj.ensure_trust_dir(tmp_path / "trust")
    (store / "broken.pub").write_text("garbage")
    rows = bj.scan_library(library, store)
    assert {r.status for r in rows} == {bj.UNKNOWN_SIGNER}
    assert all("trust store unusable" in r.reason for r in rows)


def test_missing_library_folder_is_a_plain_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bundle folder not found"):
        bj.scan_library(tmp_path / "nope", tmp_path / "trust")


def test_scan_cancel(library: Path, tmp_path: Path) -> None:
    from edgeconsole.core.errors import Cancelled

    with pytest.raises(Cancelled):
        bj.scan_library(library, tmp_path, cancel=lambda: True)


def _request(tmp_path: Path, **kw: Any) -> bj.BuildRequest:
    base = dict(
        model=REPO / "sample_models" / "digits" / "model.onnx",
        name="d",
        version=1,
        preprocess={
            "resize": "none",
            "layout": "NC",
            "channel_order": "GRAY",
            "scale": 1.0,
            "mean": [0.0],
            "std": [1.0],
        },
        head={"type": "classify"},
        hardware_ids=["laptop"],
        key_file=tmp_path / "k.key",
        out=tmp_path / "d-1.ecb",
    )
    base.update(kw)
    return bj.BuildRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "bad name!"}, "bundle name"),
        ({"version": 0}, "version"),
        ({"hardware_ids": []}, "hardware id"),
        ({"int8": "static"}, "calibration folder"),
        ({"head": {"type": "classify", "colour": "red"}}, "unknown field"),
        ({"model": Path("/nonexistent.onnx")}, "model file not found"),
    ],
)
def test_bad_build_requests_are_refused_before_work(
    tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        bj.check_request(_request(tmp_path, **kw))


def test_runner_reports_failure_in_words(qtbot: Any) -> None:
    runner = JobRunner()
    failed: list[str] = []
    runner.failed.connect(failed.append)

    def boom(_p: Any, _c: Any) -> None:
        raise KeyError("x")

    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start("t", boom)
    assert failed == ["unexpected KeyError: 'x'"]
    assert plain_error(ConfigError("what", subject="s", hint="h")) == "s: what (h)"


def test_runner_cancel_reaches_the_work(qtbot: Any) -> None:
    runner = JobRunner()
    started = threading.Event()

    def wait_for_cancel(_p: Any, cancel: Any) -> None:
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        from edgeconsole.core.errors import Cancelled

        raise Cancelled()

    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.start("t", wait_for_cancel)
        assert started.wait(5)
        assert not runner.start("again", wait_for_cancel)  # one job at a time
        runner.cancel()
    assert runner.wait(5)
