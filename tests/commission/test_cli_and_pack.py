"""``edgeconsole validate`` end to end, and the report inside the evidence pack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeconsole.cli.main import main
from tests.commission.helpers import DIGITS_BUNDLE, DIGITS_MODEL, DIGITS_SET, TRUST, subset

REPO = Path(__file__).resolve().parents[2]


def test_cli_validate_json_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = subset(DIGITS_SET, tmp_path / "d", 3)
    report = tmp_path / "out" / "r.html"
    rc = main(
        [
            "validate",
            "local://",
            "--bundle",
            str(DIGITS_BUNDLE),
            "--trust",
            str(TRUST),
            "--dataset",
            str(data),
            "--report",
            str(report),
            "--budget-ms",
            "1000",
            "--line-rate",
            "300",
            "--min-accuracy",
            "0.5",
            "--min-recall",
            "0.0",
            "--min-samples-per-class",
            "3",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "PASS" and rc == 0
    assert out["samples"]["scored"] == 30 and "records" not in out
    assert out["line_rate"].startswith("At 300 parts/min a part arrives every 200 ms.")
    assert report.is_file() and report.with_suffix(".json").is_file()
    assert main(["validate", "verify", str(report)]) == 0
    assert "VALID" in capsys.readouterr().out
    report.write_bytes(report.read_bytes().replace(b"PASS", b"PASX", 1))
    assert main(["validate", "verify", str(report)]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_cli_failures_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "local://", "--bundle", str(DIGITS_MODEL)]) == 1
    assert "missing --dataset, --report" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        main(
            [
                "validate",
                "local://",
                "--bundle",
                str(DIGITS_MODEL),
                "--dataset",
                str(tmp_path / "empty"),
                "--report",
                str(tmp_path / "r.html"),
            ]
        )
        == 1
    )
    assert "dataset has no images" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
    assert main(["validate", "verify", str(tmp_path / "nope.html")]) == 1
    assert "cannot read report" in capsys.readouterr().err
    # a failing criterion exits 1 with the report written
    data = subset(DIGITS_SET, tmp_path / "d", 1)
    rc = main(
        [
            "validate",
            "local://",
            "--bundle",
            str(DIGITS_MODEL),
            "--dataset",
            str(data),
            "--report",
            str(tmp_path / "f.html"),
            "--min-accuracy",
            "1.0",
            "--budget-ms",
            "0.000001",
        ]
    )
    assert rc == 1 and (tmp_path / "f.html").is_file()
    assert "FAIL  latency p99 vs budget" in capsys.readouterr().out


def test_report_goes_into_the_evidence_pack(journal: object, tmp_path: Path) -> None:
    from edgeconsole.journal.export import EvidencePackJob, ExportRequest
    from edgeconsole.journal.keys import ConsoleKey
    from edgeconsole.journal.paths import journal_dir
    from edgeconsole.journal.settings import SiteSettings
    from edgeconsole.journal.verify import verify_pack

    data = subset(DIGITS_SET, tmp_path / "d", 1)
    assert main(
        [
            "validate",
            "local://",
            "--bundle",
            str(DIGITS_MODEL),
            "--dataset",
            str(data),
            "--report",
            str(tmp_path / "r.html"),
            "--min-accuracy",
            "0",
        ]
    ) in (0, 1)
    pack = tmp_path / "PACK"
    EvidencePackJob(
        journal_dir(), SiteSettings("s", "t"), ConsoleKey.load_or_create(), ExportRequest(pack)
    ).run()
    reports = sorted(p.name for p in (pack / "reports").iterdir())
    assert [Path(r).suffix for r in reports] == [".html", ".json"]
    assert verify_pack(pack).ok
    from edgeconsole.commission import verify_report

    assert verify_report(pack / "reports" / reports[0]).valid
    sums = (pack / "SHA256SUMS").read_text()
    assert f"reports/{reports[0]}" in sums


def test_validate_is_a_registered_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgeconsole", "validate", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0 and "--line-rate" in out.stdout
