"""The record and export commands through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeconsole.cli.export_cmd import parse_time
from edgeconsole.cli.main import main
from edgeconsole.core.errors import ConfigError
from edgeconsole.journal.replay import RecordingReader


def test_record_export_verify(journal_home: Path, tmp_path: Path, capsys) -> None:
    rec = tmp_path / "run.mcap"
    src = "synthetic:conveyor?seed=2&fps=30&width=320&height=180"
    assert (
        main(
            [
                "record",
                "local://",
                "--source",
                src,
                "--out",
                str(rec),
                "--seconds",
                "5",
                "--max-frames",
                "12",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 12 and out["dropped"] == 0
    with RecordingReader(rec) as rd:
        assert rd.info.frames == 12 and "edgeconsole.recording" in rd.info.metadata
    pack = tmp_path / "pack"
    assert main(["export", "--out", str(pack), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["files"] >= 10 and (pack / "recordings" / "run.mcap").is_file()
    assert main(["export", "verify", str(pack)]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    (pack / "COMPLETE").unlink()
    assert main(["export", "verify", str(pack)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("FAILED") and "no COMPLETE marker" in text


def test_cli_refusals(journal_home: Path, tmp_path: Path, capsys) -> None:
    assert main(["record", "serial:///dev/ttyACM0", "--out", str(tmp_path / "x.mcap")]) == 1
    assert "not available from the command line" in capsys.readouterr().err
    assert main(["record", "local://", "--out", str(tmp_path / "x.txt")]) == 1
    assert main(["export", "--out", str(tmp_path / "p"), "--journal", str(tmp_path / "none")]) == 1
    assert "no journal found" in capsys.readouterr().err
    assert main(["export", "verify"]) == 1


def test_parse_time() -> None:
    now = 10**18
    assert parse_time("2h", now) == now - 2 * 3600 * 10**9
    assert parse_time("2025-03-01T08:00:00Z") == 1740816000 * 10**9
    with pytest.raises(ConfigError, match="cannot read time"):
        parse_time("yesterday-ish")
