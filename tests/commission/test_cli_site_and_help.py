"""``edgeconsole validate``: site and technician from the command line (remembered, as
the window's Site dialog does), and a --help that names every target kind (issue 13,
"Also found")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeconsole.cli.main import main
from edgeconsole.journal.journal import Journal
from edgeconsole.journal.settings import SettingsStore
from tests.commission.helpers import DIGITS_MODEL, DIGITS_SET, subset


def _validate(data: Path, report: Path, *extra: str) -> int:
    return main(
        [
            "validate",
            "local://",
            "--bundle",
            str(DIGITS_MODEL),
            "--dataset",
            str(data),
            "--report",
            str(report),
            "--no-keep",
            *extra,
        ]
    )


def test_site_and_technician_are_stamped_and_remembered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    _validate(data, tmp_path / "a.html")
    assert "site and technician are not set" in capsys.readouterr().err
    assert "(not set)" in (tmp_path / "a.html").read_text()
    _validate(data, tmp_path / "b.html", "--site", "Plant 9 <hall 2>", "--technician", "Bo Ek")
    html = (tmp_path / "b.html").read_text()
    assert "Plant 9 &lt;hall 2&gt;" in html and "Bo Ek" in html and "(not set)" not in html
    # Remembered for the next run (and the window), and the change is in the audit journal.
    assert SettingsStore().load().technician == "Bo Ek"
    capsys.readouterr()
    _validate(data, tmp_path / "c.html", "--technician", "Al Ma")
    assert "site and technician are not set" not in capsys.readouterr().err
    html = (tmp_path / "c.html").read_text()
    assert "Plant 9 &lt;hall 2&gt;" in html and "Al Ma" in html
    journal = Journal.open()
    try:
        changes = [e for e in journal.audit.entries() if e.kind == "settings"]
    finally:
        journal.close()
    assert len(changes) == 2


def test_a_site_name_that_cannot_be_kept_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = _validate(subset(DIGITS_SET, tmp_path / "d", 1), tmp_path / "a.html", "--site", "x" * 500)
    assert rc == 1 and "longer than 200 characters" in capsys.readouterr().err
    assert not (tmp_path / "a.html").exists()


def test_validate_help_names_serial_targets() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgeconsole", "validate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "serial:///dev/ttyX" in out and "gateway://HOST:PORT" in out and "local://" in out
    assert "--site" in out and "--technician" in out and "--min-samples-per-class" in out
